"""Per-frame models: Attention U-Nets over (trajectories × frames × 2) displacement tensors."""
