"""snncore: the thin JAX package behind the executable book of spiking-network reproductions."""
__version__ = "0.1.0"
