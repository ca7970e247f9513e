"""The release bundle format the builder writes and the sidecar reads: manifest, SHA256SUMS and build id,
signature, golden vectors, heads, the model input layout, and the stdlib-only trust check."""
