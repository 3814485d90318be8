"""One module per `synth` command group."""
