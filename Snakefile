# sinkmap: year-by-year carbon stock and sink maps for a county (Baoting demo by default).
#
#   snakemake --cores all                    # the whole run (make run does this in .venv)
#   snakemake -n                             # show what would run
#   snakemake --configfile my.yaml --cores 4 # another AOI, years or model (replaces the demo config)
#
# Rules live in workflow/rules/, their scripts in workflow/scripts/; all maths is in the sinkmap package.

from snakemake.utils import min_version

min_version("8.10")


# The demo config, unless the user gives their own: a --configfile replaces it (nothing of the demo
# is merged into it), while --config key=value on its own still edits the demo.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/carbon.smk"
include: "workflow/rules/publish.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
