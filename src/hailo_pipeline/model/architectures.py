"""The architectures hailo-pipeline exports from a checkpoint, and the input each takes."""

# Rows (H of NCHW) each architecture's input has: the FSQ model sees two devices (phone + collar).
INPUT_HEIGHT = {"tcn_encoder": 1, "conv2d_fsq": 2}
ARCHITECTURES = tuple(INPUT_HEIGHT)
