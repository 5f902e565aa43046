# The embedded default: a simulated observing program with its own CRDS cache.


checkpoint simulate:
    output:
        manifest="{outdir}/program.json",
    log:
        "{outdir}/simulate.log",
    params:
        seed=config["demo"]["seed"],
        full_frame=config["demo"]["full_frame"],
        program=config["demo"]["program"],
    conda:
        "../envs/webbflow.yaml"
    script:
        "../scripts/simulate.py"
