// Priority scheduler: an orchestrator plugin. The kernel calls `schedule`
// once per run with the run's steps; this plugin submits ready steps highest
// priority first (a resource label `priority=N`, default 0; ties keep the
// pipeline's order), keeps at most `max_parallel` of them running, and
// awaits their tickets. The kernel executes, caches and records every step.
//
// Config (grants.config): max_parallel (default 1), priority_label (default "priority").
import {
  config,
  jsonArray,
  jsonRaw,
  jsonText,
  jsonUnquote,
  log,
  orchestration,
  step,
} from "../../../sdk/assemblyscript/index";

class Item {
  constructor(
    public name: string,
    public upstream: string[],
    public priority: i32,
    public index: i32,
  ) {}
  ticket: string = "";
  state: i32 = 0; // 0 pending, 1 running, 2 finished
}

function priorityOf(labels: string[], key: string): i32 {
  const prefix = key + "=";
  for (let i = 0; i < labels.length; i++) {
    const l = jsonUnquote(labels[i]);
    if (l.startsWith(prefix)) return I32.parseInt(l.substring(prefix.length));
  }
  return 0;
}

function higher(a: Item, b: Item): bool {
  return a.priority > b.priority || (a.priority == b.priority && a.index < b.index);
}

export function schedule(): i32 {
  const input = step.input();
  const mp = config.get("max_parallel");
  let maxParallel: i32 = mp === null ? 1 : I32.parseInt(mp!);
  if (maxParallel < 1) maxParallel = 1;
  const pl = config.get("priority_label");
  const key = pl === null ? "priority" : jsonUnquote(pl!);

  const raw = jsonArray(jsonRaw(input, "steps"));
  const items: Item[] = [];
  for (let i = 0; i < raw.length; i++) {
    const s = raw[i];
    const ups = jsonArray(jsonRaw(s, "upstream"));
    const upstream: string[] = [];
    for (let j = 0; j < ups.length; j++) upstream.push(jsonUnquote(ups[j]));
    items.push(new Item(jsonText(s, "name")!, upstream, priorityOf(jsonArray(jsonRaw(s, "labels")), key), i));
  }
  const completed = new Set<string>();
  const running: Item[] = [];
  let left = items.length;

  while (left > 0) {
    // Submit the best ready steps while there is room.
    while (running.length < maxParallel) {
      let best: Item | null = null;
      for (let i = 0; i < items.length; i++) {
        const it = items[i];
        if (it.state != 0) continue;
        let ready = true;
        for (let j = 0; j < it.upstream.length; j++) {
          if (!completed.has(it.upstream[j])) ready = false;
        }
        if (ready && (best === null || higher(it, best!))) best = it;
      }
      if (best === null) break;
      const b = best!;
      b.ticket = orchestration.submit(b.name);
      b.state = 1;
      running.push(b);
      log("submitted " + b.name + " (priority " + b.priority.toString() + ", " + b.ticket + ")");
    }
    if (running.length == 0) break; // nothing runs and nothing is ready: upstream failures
    // Wait for the oldest running step, then reap any other that finished meanwhile.
    let finished = false;
    for (let i = 0; i < running.length; i++) {
      const r = running[i];
      const st = orchestration.wait(r.ticket, i == 0 && !finished ? 200 : 0);
      if (!st.done) continue;
      r.state = 2;
      left--;
      if (st.succeeded) completed.add(r.name);
      else log(r.name + " ended " + st.status);
      running.splice(i, 1);
      i--;
      finished = true;
    }
  }
  step.output("{}");
  return 0;
}
