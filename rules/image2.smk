# Stage 2 imaging: count rates to calibrated images, one job per exposure.


rule image2:
    input:
        unpack(get_image2_input),
        # last: it may wait for the associations checkpoint (background members)
        unpack(get_image2_association),
    output:
        cal="{stem}_cal.fits",
        preview=report(
            "{stem}_cal.png",
            caption="../report/cal_preview.rst",
            category="image2",
            subcategory="cal previews",
            labels={"exposure": "{stem}"},
        ),
    log:
        "{stem}_image2.log",
    benchmark:
        "{stem}_image2.benchmark.tsv"
    params:
        # As for detector1: the CRDS settings are not params (the ref_* inputs are).
        steps=config["image2"],
    threads: config["threads"]["image2"]
    resources:
        mem_mb=get_image2_mem_mb,
        runtime=get_image2_runtime,
    conda:
        "../envs/webbflow.yaml"
    script:
        "../scripts/image2.py"
