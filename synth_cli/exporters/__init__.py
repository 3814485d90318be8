"""Exporters from the clip format (synth_core.dataset) to other datasets' file layouts."""
