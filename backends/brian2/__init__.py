"""Brian2 backends of spikeforge.

* ``brian2`` (:func:`.digital.run_brian2`): an integer Program as Brian2 groups and synapses,
  bit-exact to the integer reference; the neuron equations are generated from each neuron's
  declaration (``models/declare.py``), never written per model.
* ``brian2-analog`` (:func:`.analog.run_brian2_analog`): the continuous-time network (before
  discretization) integrated by Brian2 on a finer internal step, spikes delivered by synapses.

Code generation target and cache: :mod:`.device`. Modules import Brian2 lazily.
"""
