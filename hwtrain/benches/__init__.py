"""The cocotb benches, shipped inside the package so that an installed hwtrain can verify.

Each ``bench_*.py`` drives one design's emitted Verilog and compares it with the golden
model; ``streams.py`` holds what they share. cocotb imports them by module name from
this folder (``hwtrain.flows.simulate.run_bench`` puts it on the simulator's path), so
they import ``streams`` directly and are not imported as ``hwtrain.benches.*``.
"""
