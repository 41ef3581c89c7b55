// deno-lint-ignore-file no-explicit-any
/**
 * The "kubelet" of the test API server: each Pod becomes a real podman
 * container of its image (pulled from the test registry, like a kubelet
 * would), with its env (Secret keys resolved by the server, passed to podman
 * by name, never on its command line), its ConfigMap volumes as read-only
 * mounts, its cpu/memory limits, and the command and args of its container.
 * The pod's phase and container state follow the container (`podman
 * inspect`); a pull that fails gives ErrImagePull, then ImagePullBackOff.
 * @module
 */
import { DEFAULT_ULIMITS } from "../../plugins/container/config.ts";
import { isLocalRegistry, podmanMemory, pullableRef } from "../../plugins/container/podman.ts";

const GLOBAL = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"];

/** A Kubernetes object as the server keeps it. */
export type Obj = Record<string, any>;

/** What the server resolves for the kubelet. */
export interface PodWorld {
  /** `namespace/name` → Secret data (plain values). */
  secrets: Map<string, Record<string, string>>;
  /** `namespace/name` → ConfigMap. */
  configMaps: Map<string, Obj>;
  /** Scratch folder for volumes. */
  dir: string;
}

async function podman(args: string[], env?: Record<string, string>) {
  const out = await new Deno.Command("podman", {
    args: [...GLOBAL, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** One pod run by podman. */
export class PodRuntime {
  /** The Pod object (its status is kept current by {@linkcode refresh}). */
  readonly pod: Obj;
  /** podman container name, once created. */
  container?: string;
  #pullFailures = 0;
  #starting?: Promise<void>;
  #world: PodWorld;
  #deleted = false;

  constructor(pod: Obj, world: PodWorld) {
    this.pod = pod;
    this.#world = world;
    pod.status = { phase: "Pending", conditions: [{ type: "PodScheduled", status: "True" }] };
    this.#starting = this.#start().catch((err) => this.#waiting("RunContainerError", String(err)));
  }

  /** The step container's spec. */
  get spec(): Obj {
    return this.pod.spec.containers[0];
  }

  #waiting(reason: string, message: string): void {
    this.pod.status.containerStatuses = [{
      name: this.spec.name,
      image: this.spec.image,
      ready: false,
      restartCount: 0,
      state: { waiting: { reason, message } },
    }];
  }

  async #start(): Promise<void> {
    this.#waiting("ContainerCreating", "");
    const env = this.#env();
    if (typeof env === "string") return this.#waiting("CreateContainerConfigError", env);
    const mounts = await this.#volumes();
    if (typeof mounts === "string") return this.#waiting("CreateContainerConfigError", mounts);
    if (!(await this.#pull())) return;
    if (this.#deleted) return;
    const name = `flowyml-k8s-${this.pod.metadata.name}`;
    const c = this.spec;
    const args = ["run", "-d", "--name", name, "--pull", "never", "--network", "host"];
    for (const [k, v] of Object.entries(DEFAULT_ULIMITS)) args.push("--ulimit", `${k}=${v}`);
    const lim = c.resources?.limits ?? {};
    if (lim.cpu) args.push("--cpus", String(parseCpu(lim.cpu)));
    if (lim.memory) args.push("--memory", podmanMemory(lim.memory));
    for (const k of Object.keys(env)) args.push("--env", k); // values from podman's env
    args.push(...mounts);
    if (c.workingDir) args.push("--workdir", c.workingDir);
    if (c.command?.length) args.push("--entrypoint", c.command[0]);
    args.push(pullableRef(c.image), ...(c.command ?? []).slice(1), ...(c.args ?? []));
    const out = await podman(args, env);
    if (out.code !== 0) return this.#waiting("RunContainerError", out.stderr.trim());
    this.container = name;
    this.pod.status.phase = "Running";
    await this.refresh();
  }

  /** Env values: literal ones, and Secret keys (`secretKeyRef`, `envFrom.secretRef`). */
  #env(): Record<string, string> | string {
    const ns = this.pod.metadata.namespace;
    const env: Record<string, string> = {};
    for (const from of this.spec.envFrom ?? []) {
      const data = this.#world.secrets.get(`${ns}/${from.secretRef?.name}`);
      if (!data) return `secret "${from.secretRef?.name}" not found`;
      Object.assign(env, data);
    }
    for (const e of this.spec.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      const ref = e.valueFrom?.secretKeyRef;
      if (!ref) continue;
      const data = this.#world.secrets.get(`${ns}/${ref.name}`);
      if (!data) return `secret "${ref.name}" not found`;
      if (!(ref.key in data)) return `couldn't find key ${ref.key} in Secret ${ns}/${ref.name}`;
      env[e.name] = data[ref.key];
    }
    return env;
  }

  /** ConfigMap volumes written to files and mounted read-only where the container asks. */
  async #volumes(): Promise<string[] | string> {
    const ns = this.pod.metadata.namespace;
    const args: string[] = [];
    for (const m of this.spec.volumeMounts ?? []) {
      const vol = (this.pod.spec.volumes ?? []).find((v: Obj) => v.name === m.name);
      const cm = vol?.configMap && this.#world.configMaps.get(`${ns}/${vol.configMap.name}`);
      if (!cm) return `configmap "${vol?.configMap?.name}" not found`;
      const dir = `${this.#world.dir}/${this.pod.metadata.name}-${m.name}`;
      await Deno.mkdir(dir, { recursive: true });
      const items = vol.configMap.items ??
        Object.keys(cm.data ?? {}).map((key) => ({ key, path: key }));
      for (const it of items) await Deno.writeTextFile(`${dir}/${it.path}`, cm.data[it.key]);
      args.push("-v", `${dir}:${m.mountPath}:ro`);
    }
    return args;
  }

  /** Pull as a kubelet would for the pod's policy; false when the pull failed. */
  async #pull(): Promise<boolean> {
    const image = pullableRef(this.spec.image);
    const policy = this.spec.imagePullPolicy ?? "IfNotPresent";
    const exists = (await podman(["image", "exists", image])).code === 0;
    if (policy === "Never" || (policy === "IfNotPresent" && exists)) {
      if (exists) return true;
      this.#waiting("ErrImageNeverPull", `image ${this.spec.image} is not present`);
      return false;
    }
    const tls = !isLocalRegistry(image);
    const out = await podman(["pull", "--quiet", `--tls-verify=${tls}`, image]);
    if (out.code === 0) return true;
    this.#pullFailures++;
    const msg = `Failed to pull image "${this.spec.image}": ${
      out.stderr.trim().split("\n").at(-1)
    }`;
    this.#waiting("ErrImagePull", msg);
    return false;
  }

  /** Bring the pod's status up to date with its container. */
  async refresh(): Promise<void> {
    const waiting = this.pod.status.containerStatuses?.[0]?.state?.waiting;
    if (waiting?.reason === "ErrImagePull") {
      // A kubelet backs off after a failed pull: the next look shows ImagePullBackOff.
      waiting.reason = "ImagePullBackOff";
      waiting.message = `Back-off pulling image "${this.spec.image}"`;
      return;
    }
    if (!this.container) return;
    const out = await podman(["inspect", "--type", "container", this.container]);
    if (out.code !== 0) return;
    const st = JSON.parse(out.stdout)[0].State;
    const running = st.Status === "running" || st.Status === "created";
    const cs: Obj = { name: this.spec.name, image: this.spec.image, restartCount: 0 };
    if (running) {
      cs.ready = true;
      cs.state = { running: { startedAt: st.StartedAt } };
    } else {
      const code = st.ExitCode as number;
      const reason = st.OOMKilled ? "OOMKilled" : code === 0 ? "Completed" : "Error";
      cs.ready = false;
      cs.state = {
        terminated: { exitCode: code, reason, startedAt: st.StartedAt, finishedAt: st.FinishedAt },
      };
      this.pod.status.phase = code === 0 ? "Succeeded" : "Failed";
    }
    this.pod.status.containerStatuses = [cs];
  }

  /** Whether the container was created (its log can be read). */
  get started(): boolean {
    return !!this.container;
  }

  /** Wait for the start attempt to settle (tests and log reads). */
  settled(): Promise<void> {
    return this.#starting ?? Promise.resolve();
  }

  /** How often a pull failed. */
  get pullFailures(): number {
    return this.#pullFailures;
  }

  /** The container's log (stdout and stderr), streamed to the end when `follow`. */
  logs(follow: boolean): ReadableStream<Uint8Array> {
    const child = new Deno.Command("podman", {
      args: [...GLOBAL, "logs", ...(follow ? ["-f"] : []), this.container!],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const w = writable.getWriter();
    const pump = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s) await w.write(chunk);
    };
    Promise.all([pump(child.stdout), pump(child.stderr), child.status])
      .catch(() => {})
      .finally(() => w.close().catch(() => {}));
    return readable;
  }

  /** Remove the container (the pod was deleted). */
  async remove(): Promise<void> {
    this.#deleted = true;
    await this.settled();
    if (this.container) await podman(["rm", "-f", "-t", "0", this.container]);
  }
}

function parseCpu(cpu: string): number {
  return cpu.endsWith("m") ? Number(cpu.slice(0, -1)) / 1000 : Number(cpu);
}
