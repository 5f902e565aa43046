# Associations: each pool named in the config becomes a directory of asn.json files.


checkpoint associations:
    wildcard_constraints:
        pool="[^/.]+",
    input:
        pool=get_pool,
    output:
        directory("{asndir}/{pool}"),
    log:
        "{asndir}/{pool}.log",
    conda:
        "../envs/webbflow.yaml"
    script:
        "../scripts/associations.py"
