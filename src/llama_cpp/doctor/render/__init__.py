"""Stage 3 of the doctor, the rendering: the human-readable output of a report and its
findings.

``_text.render`` prints the facts by section, then each finding with its mark (OK, INFO,
WARN, FAIL) and its fix, coloured only on a terminal. This is the end of the pipeline:
it hands nothing on. ``llama-cpp doctor --json`` skips it and prints the report with the
findings added (``llama_cpp.doctor._cli``).
"""
