"""The architectures hailo-pipeline exports from a checkpoint, the input each takes and the outputs it defines."""

# Rows (H of NCHW) each architecture's input has: the FSQ model sees two devices (phone + collar).
INPUT_HEIGHT = {"tcn_encoder": 1, "conv2d_fsq": 2}
ARCHITECTURES = tuple(INPUT_HEIGHT)
# What the host does with the device output (bundle/heads.py); an imported ONNX graph is a latent model.
OUTPUT_KIND = {"tcn_encoder": "latent", "conv2d_fsq": "fsq_classifier"}
