"""elsa-tlm: a transaction-level SimPy model of the ELSA spiking-neural-network accelerator."""

__version__ = "0.1.0"
