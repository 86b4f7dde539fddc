"""The model, framework-free: the spec, the presets, the layer IR it lowers to, and its analysis."""
