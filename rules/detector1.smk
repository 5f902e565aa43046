# Stage 1: ramps to count rates, one job per exposure.


rule detector1:
    input:
        unpack(get_detector1_input),
    output:
        rate="{stem}_rate.fits",
        rateints="{stem}_rateints.fits",
        preview=report(
            "{stem}_rate.png",
            caption="../report/rate_preview.rst",
            category="detector1",
            subcategory="rate previews",
            labels={"exposure": "{stem}"},
        ),
    log:
        "{stem}_detector1.log",
    benchmark:
        "{stem}_detector1.benchmark.tsv"
    params:
        # Not the CRDS settings: a new context re-runs only the exposures whose
        # selected references (the ref_* inputs) change; the script reads
        # config["crds"] itself.
        steps=config["detector1"],
    threads: config["threads"]["detector1"]
    resources:
        mem_mb=get_detector1_mem_mb,
        runtime=get_detector1_runtime,
    conda:
        "../envs/webbflow.yaml"
    script:
        "../scripts/detector1.py"
