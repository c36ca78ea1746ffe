"""Built-in mask samplers (kind ``mask_sampler``): ``N×1×H×W`` float masks, 1 = hole."""
