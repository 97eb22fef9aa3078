"""The `ares` command line: run a job, score responses, submit to and follow a Ray cluster, prepare the tiny model."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from pipelines.config import ConfigError, load_config

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

    summary = job.run(cfg)
    _print_summary(summary)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    from pipelines import score

    summary = score.run(cfg, args.responses, args.instances, args.output)
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
        if args.ledger:
            costs, source = plan.load_ledger(args.ledger, cfg), args.ledger
        else:
            try:
                costs, source = plan.load_ledger(cfg.output.path, cfg), f"{cfg.output.path}/summary.json"
            except plan.PlanError:
                if not cfg.sizing.per_accepted:
                    raise
                costs = {s: c.model_dump() for s, c in cfg.sizing.per_accepted.items()}
                source = "sizing.per_accepted (estimates)"
        print(plan.format_plan(plan.plan(cfg, target, costs, source, args.gpus)))
    except plan.PlanError as exc:
        print(f"ares: plan: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    from pipelines import submit

    job_id = submit.submit(cfg, args.address)
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

    print(submit.status(args.job_id, args.address))
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ares", description="Synthesize rubric-annotated RL data with Ray + vLLM.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run (or resume) a job: ares run CONFIG [key=value ...]")
    p.add_argument("config", help="a built-in config (local, cluster) or a YAML path")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. input.limit_per_file=8")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("score", help="score responses against ARES rubrics: ares score CONFIG --responses F ...")
    p.add_argument("--responses", required=True, help="JSONL or parquet with candidate_id, response[, response_id]")
    p.add_argument("--instances", required=True, help="accepted instances, e.g. OUTPUT/accepted")
    p.add_argument("--output", required=True, help="where to write the scores (parquet)")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*")
    p.set_defaults(fn=cmd_score)

    p = sub.add_parser("plan", help="size a job from a pilot's token ledger: ares plan CONFIG --target N")
    p.add_argument("--target", type=int, help="accepted instances to size for (default: target.accepted)")
    p.add_argument("--ledger", help="a pilot run's summary.json or output folder (default: the config's output, "
                                    "else sizing.per_accepted)")
    p.add_argument("--gpus", type=int, help="GPUs (CPUs for CPU engines) to plan the wall time for")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*")
    p.set_defaults(fn=cmd_plan)

    p = sub.add_parser("submit", help="submit a job to a Ray cluster: ares submit --address URL CONFIG [k=v ...]")
    p.add_argument("--address", help="the cluster's dashboard URL (default: $RAY_ADDRESS or http://127.0.0.1:8265)")
    p.add_argument("--wait", action="store_true", help="wait for the job to end; exit 0 only if it succeeded")
    p.add_argument("--timeout", type=float, default=24 * 3600, help="seconds to wait with --wait")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*")
    p.set_defaults(fn=cmd_submit)

    for name, fn, text in (("status", cmd_status, "a submitted job's state"), ("logs", cmd_logs, "a job's logs")):
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
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may follow options too: `ares score local --responses F key=value`
    if extra:
        if not hasattr(args, "overrides") or any(x.startswith("-") or "=" not in x for x in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = list(args.overrides) + extra
    try:
        return args.fn(args)
    except ConfigError as exc:
        print(f"ares: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception as exc:  # user-facing failures: one line, no traceback unless asked
        from pipelines.job import JobError
        from pipelines.resources import ResourceError

        if isinstance(exc, (JobError, ResourceError)):
            print(f"ares: {exc}", file=sys.stderr)
            return EXIT_FAILED
        raise


if __name__ == "__main__":
    sys.exit(main())
