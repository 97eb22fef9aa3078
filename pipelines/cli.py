"""The `ares` command line: run a job, score responses, submit to and follow a Ray cluster, prepare the tiny model;
after a run, report on, inspect and export its output; serve the judge and the reward to RL trainers.

Bad arguments are one line on stderr and exit code 2; a job that fails is one line and exit code 1."""

from __future__ import annotations

import argparse
import json
import os
import sys

from pipelines.config import ConfigError, load_config
from pipelines.console import configure_logging

EXIT_CONFIG = 2
EXIT_FAILED = 1


def _print_summary(summary: dict) -> None:
    print("\n== ARES run finished ==")
    print(f"output:     {summary['output']}  (accepted/, rejected/, summary.json)")
    print(f"documents:  {summary['documents_read']} read, "
          f"{summary['documents_rejected_before_candidates']} rejected before candidates "
          f"{summary['documents_rejected_by_stage']}")
    print(f"candidates: {summary['candidates']} = {summary['accepted']} accepted + {summary['rejected']} rejected")
    if summary["rejected_by_stage"]:
        print("rejected by stage: " + ", ".join(f"{k}={v}" for k, v in sorted(summary["rejected_by_stage"].items())))
    contam = summary.get("contamination")
    if contam is not None:
        sets = ", ".join(f"{s['path']} ({s['items']} items)" for s in contam["eval_sets"])
        print(f"decontaminated against: {sets}" if contam["enabled"] else
              "decontamination: off (stages.contamination.enabled=false)")
    _print_ledger(summary.get("ledger"))
    print(f"took {summary.get('seconds')} s ({summary.get('mode')})")


def _usage_line(label: str, u: dict) -> str:
    return (f"  {label:20s} {u['calls']:>8,.0f} calls {u['prompt_tokens']:>11,.0f} prompt "
            f"({u['cached_prompt_tokens']:>10,.0f} cached) {u['output_tokens']:>10,.0f} output {u['seconds']:>8,.1f} s")


def _print_ledger(ledger: dict | None) -> None:
    """The token ledger: per stage, in total, per accepted instance, and what was spent on quota refusals."""
    if not ledger or not ledger["stages"]:
        return
    print("engine calls and tokens by stage (seconds: wall time of the stage's calls, batches in flight overlap):")
    for stage, u in ledger["stages"].items():
        print(_usage_line(stage, u))
    print(_usage_line("total", ledger["total"]))
    if ledger["per_accepted"]:
        print(_usage_line("per accepted", ledger["per_accepted"]["total"]))
    refused = ledger["refused_for_quota"]
    if refused["candidates"] or refused["documents"]:
        print(f"spent on {refused['candidates']} candidates and {refused['documents']} documents refused for quota:")
        print(_usage_line("refused for quota", refused))


def cmd_run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    from pipelines import job

    summary = job.run(cfg, verbose=args.verbose, progress_every=args.progress_every)
    _print_summary(summary)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    from pipelines import score

    summary = score.run(cfg, args.responses, args.instances, args.output, verbose=args.verbose)
    print("\n== ARES score finished ==")
    print(json.dumps(summary, indent=2))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    from pipelines import plan

    target = args.target or cfg.target.accepted
    if target is None:
        print("ares: plan: give --target N (or target.accepted in the config)", file=sys.stderr)
        return EXIT_CONFIG
    try:
        if args.throughput:
            plan.use_throughput(cfg, args.throughput)
        counts = None
        if args.ledger:
            costs, source = plan.load_ledger(args.ledger, cfg), args.ledger
            counts = plan.summary_counts(plan.read_summary(args.ledger, cfg))
        else:
            try:
                costs, source = plan.load_ledger(cfg.output.path, cfg), f"{cfg.output.path}/summary.json"
                counts = plan.summary_counts(plan.read_summary(cfg.output.path, cfg))
            except plan.PlanError:
                if not cfg.sizing.per_accepted:
                    raise
                costs = {s: c.model_dump() for s, c in cfg.sizing.per_accepted.items()}
                source = "sizing.per_accepted (estimates)"
        print(plan.format_plan(plan.plan(cfg, target, costs, source, args.gpus, counts)))
    except plan.PlanError as exc:
        print(f"ares: plan: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    from pipelines import submit

    job_id = submit.submit(cfg, args.address, verbose=args.verbose)
    print(f"submitted job {job_id}; follow it with: ares logs --follow {job_id}" +
          (f" --address {args.address}" if args.address else ""))
    if not args.wait:
        return 0
    state = submit.wait(job_id, args.address, args.timeout)
    print(f"job {job_id}: {state}")
    if state != "SUCCEEDED":
        tail = submit.client(args.address).get_job_logs(job_id).splitlines()[-40:]
        print("last lines of the job's log:\n" + "\n".join(tail))
        return EXIT_FAILED
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pipelines import submit
    from pipelines.progress import format_progress

    state, snap, note = submit.status_with_progress(args.job_id, args.address)
    print(state)
    if snap is not None:
        print(format_progress(snap), end="")
    elif note:
        print(note)
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from pipelines import submit

    submit.logs(args.job_id, args.address, args.follow)
    return 0


def cmd_prepare_model(args: argparse.Namespace) -> int:
    from pipelines import tiny_model

    print(tiny_model.prepare(args.out))
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    print(json.dumps(cfg.model_dump(), indent=2))
    return 0


def _storage(args: argparse.Namespace):
    from pipelines.config import StorageConfig

    return StorageConfig(endpoint_url=args.endpoint_url)


def _output(args: argparse.Namespace):
    from pipelines.output_reader import JobOutput

    return JobOutput(args.output, _storage(args))


def cmd_report(args: argparse.Namespace) -> int:
    from pipelines.ares import FLOW
    from pipelines.report import write_report

    out = _output(args)
    path = write_report(out, args.out or f"{out.path}/report.html", FLOW, args.examples)
    print(f"report: {path}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from pipelines.ares import FLOW
    from pipelines.inspect_output import format_row, select

    rows, total = select(_output(args), FLOW, args.n, args.domain, args.rejected, args.stage)
    what = "rejected rows" if (args.rejected or args.stage) else "accepted instances"
    filters = ", ".join(f for f in (f"domain {args.domain!r}" if args.domain else "",
                                    f"stage {args.stage!r}" if args.stage else "") if f)
    print(f"{len(rows)} of {total} {what}" + (f" ({filters})" if filters else ""))
    for i, row in enumerate(rows, 1):
        print(format_row(row, i, len(rows)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pipelines.export import export

    out = _output(args)
    dest = args.out or f"{out.path}/export/{args.format}"
    counts = export(out, args.format, dest, args.split)
    print(f"exported {sum(counts.values())} instances ({', '.join(f'{s}: {n}' for s, n in counts.items())}) "
          f"as {args.format} to {dest}")
    return 0


def cmd_serve_judge(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    from pipelines.serve_judge import serve

    return serve(cfg, args.engine or cfg.score.engine, host=args.host, port=args.port, key_file=args.api_key_file,
                 served_name=args.served_model_name, verbose=args.verbose)


def cmd_serve_reward(args: argparse.Namespace) -> int:
    import uvicorn

    from operators.served_reward.client import RewardClient
    from operators.served_reward.openrlhf import app

    client = RewardClient.from_env(base_url=args.judge_url, model=args.judge_model, api_key_file=args.api_key_file,
                                   timeout=args.timeout, max_retries=args.max_retries,
                                   max_concurrency=args.concurrency)
    print(f"reward server for OpenRLHF: --reward.remote_url http://{args.host}:{args.port}/get_reward "
          f"(judge {client.judge.base_url})", flush=True)
    uvicorn.run(app(client), host=args.host, port=args.port, log_level="info" if args.verbose else "warning")
    return 0


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _port(text: str) -> int:
    value = _count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a port: {text}")
    return value


def _add_verbose(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", action="store_true",
                   help="show Ray's, Ray Data's and the engines' own log lines and progress bars")


def _add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", metavar="OUTPUT", help="a job's output.path (a folder, file:// or s3://)")
    p.add_argument("--endpoint-url", help="S3 endpoint of an s3:// OUTPUT (keys from the AWS_* variables)")


class Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr, exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ares", description="Synthesize rubric-annotated RL data with Ray + vLLM.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run (or resume) a job: ares run CONFIG [key=value ...]")
    p.add_argument("config", help="a built-in config (local, cluster) or a YAML path")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. input.limit_per_file=8")
    _add_verbose(p)
    p.add_argument("--progress-every", type=_positive, default=30.0, metavar="SECONDS",
                   help="seconds between progress tables when the output is not a terminal (default 30)")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("score", help="score responses against ARES rubrics: ares score CONFIG --responses F ...")
    p.add_argument("--responses", required=True, help="JSONL or parquet with candidate_id, response[, response_id]")
    p.add_argument("--instances", required=True, help="accepted instances, e.g. OUTPUT/accepted")
    p.add_argument("--output", required=True, help="where to write the scores (parquet)")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*")
    _add_verbose(p)
    p.set_defaults(fn=cmd_score)

    p = sub.add_parser("plan", help="size a job from a pilot's token ledger: ares plan CONFIG --target N")
    p.add_argument("--target", type=int, help="accepted instances to size for (default: target.accepted)")
    p.add_argument("--ledger", help="a pilot run's summary.json or output folder (default: the config's output, "
                                    "else sizing.per_accepted)")
    p.add_argument("--gpus", type=int, help="GPUs (CPUs for CPU engines) to plan the wall time for")
    p.add_argument("--throughput", help="per-actor rates measured in the pipeline (the JSON benchmarks/"
                                        "gpu_occupancy.py --rates writes), in place of sizing.throughput")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*")
    p.set_defaults(fn=cmd_plan)

    p = sub.add_parser("submit", help="submit a job to a Ray cluster: ares submit --address URL CONFIG [k=v ...]")
    p.add_argument("--address", help="the cluster's dashboard URL (default: $RAY_ADDRESS or http://127.0.0.1:8265)")
    p.add_argument("--wait", action="store_true", help="wait for the job to end; exit 0 only if it succeeded")
    p.add_argument("--timeout", type=float, default=24 * 3600, help="seconds to wait with --wait")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*")
    _add_verbose(p)
    p.set_defaults(fn=cmd_submit)

    for name, fn, text in (("status", cmd_status, "a submitted job's state and its progress table"),
                           ("logs", cmd_logs, "a job's logs")):
        p = sub.add_parser(name, help=text)
        p.add_argument("job_id")
        p.add_argument("--address")
        if name == "logs":
            p.add_argument("--follow", action="store_true", help="stream until the job ends")
        p.set_defaults(fn=fn)

    p = sub.add_parser("config", help="print the merged, validated config")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*")
    p.set_defaults(fn=cmd_check_config)

    p = sub.add_parser("prepare-model", help="fetch and convert the local tiny model (cached)")
    p.add_argument("--out", help="the model folder (default: where the built-in local config looks for it)")
    p.set_defaults(fn=cmd_prepare_model)

    p = sub.add_parser("report", help="write one self-contained HTML report about a job's output")
    _add_output(p)
    p.add_argument("--out", help="the HTML file to write (default OUTPUT/report.html)")
    p.add_argument("--examples", type=_count, default=3, help="accepted and rejected examples shown (default 3)")
    p.set_defaults(fn=cmd_report)

    p = sub.add_parser("inspect", help="print instances of a job's output readably")
    _add_output(p)
    p.add_argument("--n", type=_count, default=5, help="how many to print (default 5)")
    p.add_argument("--domain", help="only this domain")
    p.add_argument("--rejected", action="store_true", help="rejected candidates (and documents) instead")
    p.add_argument("--stage", help="only those rejected at this stage or verdict (implies --rejected)")
    p.set_defaults(fn=cmd_inspect)

    p = sub.add_parser("export", help="export the accepted instances for a trainer or the Hugging Face hub")
    _add_output(p)
    from pipelines.export import FORMATS, SPLITS

    p.add_argument("--format", required=True, choices=FORMATS,
                   help="hf: datasets/TRL parquet with splits; verl: verl's RL parquet; openrlhf: JSONL with "
                        "input/label; jsonl: plain JSONL")
    p.add_argument("--split", choices=SPLITS, help="only this split")
    p.add_argument("--out", help="the folder to write (default OUTPUT/export/FORMAT)")
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("serve-judge", help="serve the judge model as an OpenAI-compatible endpoint with an API key")
    p.add_argument("config", help="a config name in conf/ or a YAML path (its engines and ray sections are used)")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    p.add_argument("--engine", help="the engine to serve (default: score.engine)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1 for a local cluster, else 0.0.0.0)")
    p.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    p.add_argument("--api-key-file", help="file holding the API key, created with a new key if missing "
                                          "(default ~/.config/ares/judge_api_key; $ARES_JUDGE_API_KEY wins)")
    p.add_argument("--served-model-name", help="the model name clients ask for (default: the model folder's name)")
    _add_verbose(p)
    p.set_defaults(fn=cmd_serve_judge)

    p = sub.add_parser("serve-reward", help="serve the rubric reward to OpenRLHF (its remote reward model contract)")
    p.add_argument("--judge-url", help="the judge endpoint, e.g. http://127.0.0.1:8000/v1 (default $ARES_JUDGE_URL)")
    p.add_argument("--judge-model", help="the judge's model name (default: the endpoint's)")
    p.add_argument("--api-key-file", help="the judge's API key file (default: $ARES_JUDGE_API_KEY, "
                                          "$ARES_JUDGE_API_KEY_FILE, ~/.config/ares/judge_api_key)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: OpenRLHF sends no key)")
    p.add_argument("--port", type=_port, default=5000, help="port (default 5000)")
    p.add_argument("--timeout", type=_positive, default=60.0, help="seconds per judge call (default 60)")
    p.add_argument("--max-retries", type=int, default=3, help="retries of a failed judge call (default 3)")
    p.add_argument("--concurrency", type=_count, default=16, help="judge calls in flight (default 16)")
    _add_verbose(p)
    p.set_defaults(fn=cmd_serve_reward)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    configure_logging(getattr(args, "verbose", False))
    # key=value overrides may follow options too: `ares score local --responses F key=value`
    if extra:
        if not hasattr(args, "overrides") or any(x.startswith("-") or "=" not in x for x in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = list(args.overrides) + extra
    try:
        return args.fn(args)
    except BrokenPipeError:  # the reader went away (`ares inspect OUT | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ConfigError as exc:
        print(f"ares: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception as exc:  # user-facing failures: one line, no traceback unless asked
        from pipelines.export import ExportError
        from pipelines.inspect_output import InspectError
        from pipelines.job import JobError
        from pipelines.output_reader import OutputError
        from pipelines.resources import ResourceError
        from pipelines.serve_judge import ServeError

        if isinstance(exc, (OutputError, InspectError, ExportError)):
            print(f"ares {args.command}: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        if isinstance(exc, ValueError) and args.command == "serve-reward":  # no judge endpoint given
            print(f"ares serve-reward: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        if isinstance(exc, (JobError, ResourceError, ServeError)):
            print(f"ares: {exc}", file=sys.stderr)
            return EXIT_FAILED
        raise


if __name__ == "__main__":
    sys.exit(main())
