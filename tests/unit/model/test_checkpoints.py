"""Loading checkpoints as the training repos saved them, and saying exactly what does not fit."""

import re
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.conv2d_fsq import FSQ_LEVELS, load_conv2d_fsq
from hailo_pipeline.model.examples import OriginalTcnEncoder, conv2d_fsq_state, tcn_encoder_state
from hailo_pipeline.model.tcn_encoder import load_tcn_encoder


def _save(path: Path, state: object) -> Path:
    torch.save(state, path)
    return path


def test_tcn_checkpoint_loads_with_real_model_shapes(sources: dict[str, Path]) -> None:
    model = load_tcn_encoder(sources["tcn_encoder"])
    assert sum(p.numel() for p in model.parameters()) == 441_984  # the deployed encoder's count
    assert [b.conv1.conv.dilation for b in model.blocks] == [(1, 1), (1, 2), (1, 4)]
    assert model(torch.zeros(1, 9, 1, 100)).shape == (1, 64, 1, 1)


def test_weight_norm_folding_reproduces_the_original_conv1d_model(sources: dict[str, Path]) -> None:
    x = torch.randn(4, 100, 9, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        original = OriginalTcnEncoder(tcn_encoder_state()).eval()(x)
        ours = load_tcn_encoder(sources["tcn_encoder"])(x.transpose(1, 2)[:, :, None, :]).flatten(1)
    torch.testing.assert_close(ours, original, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("form", ["parametrizations", "plain", "wrapped"])
def test_other_saved_forms_load_to_the_same_model(tmp_path: Path, sources: dict[str, Path], form: str) -> None:
    state = tcn_encoder_state()
    converted: dict[str, torch.Tensor] = OrderedDict()
    for key, value in state.items():
        if form == "parametrizations" and key.endswith((".weight_g", ".weight_v")):
            suffix = "original0" if key.endswith("_g") else "original1"
            converted[key.rsplit(".", 1)[0] + f".parametrizations.weight.{suffix}"] = value
        elif form == "plain" and key.endswith(".weight_v"):
            g = state[key[:-1] + "g"]
            converted[key[: -len("_v")]] = g * value / value.flatten(1).norm(dim=1).reshape(g.shape)
        elif not (form == "plain" and key.endswith(".weight_g")):
            converted[key] = value
    saved = {"state_dict": converted, "epoch": torch.tensor(7)} if form == "wrapped" else converted
    model = load_tcn_encoder(_save(tmp_path / "c.pt", saved))
    reference = load_tcn_encoder(sources["tcn_encoder"])
    x = torch.randn(2, 9, 1, 100)
    torch.testing.assert_close(model(x), reference(x))


def test_missing_and_unexpected_keys_are_all_named(tmp_path: Path) -> None:
    state = tcn_encoder_state()
    del state["network.1.conv2.bias"], state["network.2.downsample.bias"]
    state["decoder.fc.weight"] = torch.zeros(2)
    with pytest.raises(PipelineError) as err:
        load_tcn_encoder(_save(tmp_path / "c.pt", state))
    message = str(err.value)
    assert "does not fit tcn_encoder" in message
    assert "missing keys: network.1.conv2.bias, network.2.downsample.bias" in message
    assert "unexpected keys: decoder.fc.weight" in message


def test_alias_that_differs_from_its_conv_is_refused(tmp_path: Path) -> None:
    state = tcn_encoder_state()
    state["network.0.net.0.weight_v"] = state["network.0.net.0.weight_v"] + 1
    with pytest.raises(PipelineError, match=re.escape("network.0.net.0 should alias network.0.conv1")):
        load_tcn_encoder(_save(tmp_path / "c.pt", state))


def test_checkpoint_without_fc_mu_yields_pooled_features(tmp_path: Path) -> None:
    state = tcn_encoder_state()
    del state["fc_mu.weight"], state["fc_mu.bias"]
    model = load_tcn_encoder(_save(tmp_path / "c.pt", state))
    assert model.output_dim == 256
    assert model(torch.zeros(1, 9, 1, 100)).shape == (1, 256, 1, 1)


def test_files_that_are_not_checkpoints_are_refused(tmp_path: Path) -> None:
    (tmp_path / "dummy.pth").write_text("DUMMY")
    with pytest.raises(PipelineError, match="not a loadable PyTorch checkpoint"):
        load_tcn_encoder(tmp_path / "dummy.pth")
    with pytest.raises(PipelineError, match="not found"):
        load_tcn_encoder(tmp_path / "absent.pth")
    with pytest.raises(PipelineError, match="no state_dict of tensors"):
        load_tcn_encoder(_save(tmp_path / "list.pt", [torch.zeros(1)]))


def test_fsq_checkpoint_loads_and_bounds_like_the_library(sources: dict[str, Path]) -> None:
    model = load_conv2d_fsq(sources["conv2d_fsq"])
    assert sum(p.numel() for p in model.parameters()) == 58_063  # M1.3's count
    with torch.no_grad():
        x = torch.randn(64, 9, 2, 100) * 3
        z = model.projection(model.pool(model.encoder(x))).flatten(1)
        bounded = model(x).flatten(1)
        levels = torch.tensor(FSQ_LEVELS, dtype=torch.float32)
        half_l = (levels - 1) * 1.001 / 2
        offset = torch.where(levels % 2 == 0, 0.5, 0.0)
        torch.testing.assert_close(bounded, torch.tanh(z + torch.atanh(offset / half_l)) * half_l - offset)
        codes = torch.round(bounded) / (levels // 2)
        assert model.host_tail(bounded[:, :, None, None]).shape == (64, 10)
        torch.testing.assert_close(model.host_tail(bounded[:, :, None, None]), model.classifier(codes))
    assert torch.all(codes.abs() <= 1.0)


def test_fsq_checkpoint_missing_keys_are_named(tmp_path: Path) -> None:
    state = conv2d_fsq_state()
    del state["fsq_model.encoder.bn2.running_var"]
    with pytest.raises(PipelineError, match=re.escape("conv2d_fsq: missing keys: encoder.bn2.running_var")):
        load_conv2d_fsq(_save(tmp_path / "f.pt", state))
