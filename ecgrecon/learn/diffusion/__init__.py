"""Diffusion generative prior of 12-lead ECGs and posterior samplers (Bedin et al. 2025; MGPS, Moufad et al. 2025).

- :mod:`.schedule`: the variance-preserving noise schedule (x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps) and the
  conversions between the network's epsilon and the denoiser E[x0 | x_t] every sampler is written against;
- :mod:`.prior`: the 1-D U-Net epsilon predictor over the 8 independent leads, its training and checkpoints;
- :mod:`.samplers`: DDNM / RePaint data consistency, DPS and MGPS for an observation operator (lead mask, samples,
  additive Gaussian noise).
"""
