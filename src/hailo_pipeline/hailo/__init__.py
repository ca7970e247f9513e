"""The vendor boundary: the only code that touches a Hailo SDK (DFC, HailoRT) or format (HEF, .alls)."""
