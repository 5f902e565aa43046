"""Run many ``webbflow`` command lines, each in its own forked process, after one import.

Usage: ``python cli_batch.py JOBS.json RESULTS.json [WORKERS]`` where JOBS.json
is a list of ``{"name": ..., "args": [...]}``. Each child process runs exactly
what the ``webbflow`` console script runs, ``sys.exit(webbflow.cli.main())``,
with its own stdout and stderr; the parent only saves the interpreter start
and the imports (seconds per case on a busy machine). RESULTS.json maps each
name to ``{"returncode", "stdout", "stderr", "seconds"}``. The ``run image2``
jobs start last, after the parent has also loaded the ASDF extensions.
"""

import json
import os
import sys
import tempfile
import time
import traceback


def _preload():
    # Everything the command imports before it looks at its input, but not crds:
    # CRDS reads its settings from the environment when imported (configure_crds).
    from webbflow import cli

    cli.build_parser()
    import webbflow.config  # noqa: F401
    import webbflow.datamodels  # noqa: F401
    import webbflow.pipelines.detector1  # noqa: F401
    import webbflow.pipelines.image2  # noqa: F401
    import webbflow.refs.readers  # noqa: F401

    for name in webbflow.pipelines.image2.STEPS:
        webbflow.pipelines.image2.step_module(name)
    assert "crds" not in sys.modules


def _needs_asdf(job):
    """Whether the command reads a product's ASDF extension (a rate) before it sets up CRDS."""
    return job["args"][:2] == ["run", "image2"]


def _preload_asdf():
    # The ASDF extensions and schemas every rate file's ASDF needs: seconds of entry
    # points and YAML per process. Loading them imports crds (through stpipe's entry
    # point), as ``run image2`` itself does when it reads its input, so only those jobs
    # are started after this.
    import asdf
    import gwcs  # noqa: F401

    config = asdf.get_config()
    config.extensions  # noqa: B018
    config.resource_manager  # noqa: B018


def _child(args, out, err):
    os.dup2(out, 1)
    os.dup2(err, 2)
    sys.argv = ["webbflow", *args]
    try:
        from webbflow.cli import main

        code = main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int) and exc.code is not None:
            print(exc.code, file=sys.stderr)
    except BaseException:  # as the interpreter does with an uncaught exception
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code or 0))


def run_all(jobs, workers=2):
    _preload()
    for key in [k for k in os.environ if k.startswith("CRDS_")]:
        del os.environ[key]
    results, running = {}, {}
    pending = [job for job in jobs if not _needs_asdf(job)] + [job for job in jobs if _needs_asdf(job)]
    warm = False
    with tempfile.TemporaryDirectory() as scratch:
        while pending or running:
            while pending and len(running) < workers:
                job = pending.pop(0)
                if _needs_asdf(job) and not warm:
                    _preload_asdf()
                    warm = True
                out = os.open(os.path.join(scratch, job["name"] + ".out"), os.O_CREAT | os.O_WRONLY, 0o600)
                err = os.open(os.path.join(scratch, job["name"] + ".err"), os.O_CREAT | os.O_WRONLY, 0o600)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(job["args"], out, err)
                os.close(out)
                os.close(err)
                running[pid] = (job["name"], time.perf_counter())
            pid, status = os.wait()
            name, start = running.pop(pid)
            with open(os.path.join(scratch, name + ".out")) as handle:
                stdout = handle.read()
            with open(os.path.join(scratch, name + ".err")) as handle:
                stderr = handle.read()
            results[name] = {"returncode": os.waitstatus_to_exitcode(status), "stdout": stdout,
                             "stderr": stderr, "seconds": time.perf_counter() - start}
    return results


if __name__ == "__main__":
    jobs = json.loads(open(sys.argv[1]).read())
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    with open(sys.argv[2], "w") as handle:
        json.dump(run_all(jobs, workers), handle)
