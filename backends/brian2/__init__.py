"""Brian2 backends of spikeforge.

* ``brian2`` (:func:`.digital.run_brian2`): an integer Program as Brian2 groups and synapses,
  bit-exact to the integer reference; the neuron equations are generated from each neuron's
  declaration (``models/declare.py``), never written per model.
* ``brian2-analog`` (:func:`.analog.run_brian2_analog`): the continuous-time network (before
  discretization: NIR's LIF/IF/LI/CubaLIF ODEs and MTC's) integrated by Brian2 on a finer
  internal step (``exact`` where linear, ``rk2``/``rk4``/``euler`` otherwise); spikes delivered by
  synapses as one-step current pulses; the comparator ``clocked`` (sampled at step boundaries,
  the discrete program's rule; default) or ``continuous`` (reset at the crossing instant).

Code generation target and cache: :mod:`.device`. Modules import Brian2 lazily.
"""
