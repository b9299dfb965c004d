"""ASN / NASN / I-LIF: adaptive spiking neurons (integer training, spike inference)."""
