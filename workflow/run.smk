# One AOI's workflow: its rules, and its target (every output of the run).
# The Snakefile includes it for a config with one AOI, and loads it as a module once per AOI for a
# config with several (aois:), each with its own config and folders.


include: "rules/common.smk"
include: "rules/inputs.smk"
include: "rules/carbon.smk"
include: "rules/publish.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
