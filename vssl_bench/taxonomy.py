"""The taxonomy the benchmark reports in: families, in display order, and the references.

Ground floor (no imports): the methods declare their family from here, and the report and
the statistics group by it.
"""

FAMILIES = ("reference", "pretext", "generative", "contrastive")  # display order
SSL_FAMILIES = FAMILIES[1:]  # the families the verdicts compare
REFERENCES = ("random", "supervised")  # beside every matrix: the untrained network and the labels' ceiling
