"""The HTTP side: the app factory, its module-level routers (EdgeInfer's, the Open Inference Protocol's, the
control routes), request parsing, the one inference path and the one refusal type."""
