/**
 * Config of the Airflow orchestrator (`type: airflow`): where the DAG file is
 * written and how Airflow 3's stable REST API (`/api/v2`) is reached.
 * @module
 */
import { z } from "zod";
import type { Schema } from "../../kernel/schema.ts";
import { secretSchema } from "../s3/secrets.ts";

/**
 * Parsed Airflow orchestrator config (`orchestrator: { type: airflow, … }`). A secret is a
 * literal, `{ env: NAME }` (an environment variable) or `{ file: PATH }`.
 */
export interface AirflowConfig {
  /** Instance name (default `airflow`). */
  name?: string;
  /** Airflow API server URL, e.g. http://airflow:8080. */
  url: string;
  /**
   * `token`: a bearer token; `basic`: HTTP basic auth; `password`: exchange username/password for
   * a JWT at `POST /auth/token`, Airflow 3's default (default `token`).
   */
  auth: "token" | "basic" | "password";
  /** Bearer token for `auth: token` (a secret). */
  token?: string | { env: string } | { file: string };
  /** User name for `auth: basic` or `password` (a secret). */
  username?: string | { env: string } | { file: string };
  /** Password for `auth: basic` or `password` (a secret). */
  password?: string | { env: string } | { file: string };
  /**
   * Folder the compiled DAG file is written to before triggering (Airflow's dags folder, or a
   * synced one); unset: the DAG is expected to be there already.
   */
  dag_folder?: string;
  /** DAG id (default: the pipeline name). */
  dag_id?: string;
  /** Image of the steps (default: the run's `docker.image`). */
  image?: string;
  /**
   * `kubernetes`: KubernetesPodOperator; `bash`: BashOperator, on workers that run inside the
   * image (default `kubernetes`).
   */
  operator: "kubernetes" | "bash";
  /** Kubernetes namespace of the step pods. */
  namespace?: string;
  /** Stack the steps use in the image (default: the run's). */
  stack?: string;
  /** Where the project is in the image (default `/app`). */
  app_dir: string;
  /** Folder `image build` packed (default: cwd). */
  project_root?: string;
  /** Status poll interval in ms (default 5000). */
  poll_ms: number;
}

const airflowObject = z.object({
  name: z.string().optional(),
  url: z.string().url().describe("Airflow API server, e.g. http://airflow:8080"),
  auth: z.enum(["token", "basic", "password"]).default("token").describe(
    "token: a bearer token; basic: HTTP basic auth; password: exchange username/password " +
      "for a JWT at POST /auth/token (Airflow 3's default)",
  ),
  token: secretSchema.optional().describe("auth token: a bearer token"),
  username: secretSchema.optional().describe("basic/password: user name"),
  password: secretSchema.optional().describe("basic/password: password"),
  dag_folder: z.string().optional().describe(
    "write the compiled DAG file here before triggering (Airflow's dags folder, or a synced one)",
  ),
  dag_id: z.string().optional().describe("DAG id (default: the pipeline name)"),
  image: z.string().optional().describe("image of the steps (default: the run's docker.image)"),
  operator: z.enum(["kubernetes", "bash"]).default("kubernetes")
    .describe("KubernetesPodOperator, or BashOperator on workers that run inside the image"),
  namespace: z.string().optional().describe("kubernetes namespace of the step pods"),
  stack: z.string().optional().describe("stack the steps use in the image (default: the run's)"),
  app_dir: z.string().default("/app").describe("where the project is in the image"),
  project_root: z.string().optional().describe("folder `image build` packed (default: cwd)"),
  poll_ms: z.number().int().positive().default(5_000).describe("status poll interval"),
}).strict();

/** Config schema of the Airflow orchestrator (parses to {@linkcode AirflowConfig}). */
export const airflowOrchestratorSchema: Schema<AirflowConfig> = airflowObject;

/** Airflow dag-run state → flowyml run status. */
export const DAG_RUN_STATES: Record<string, "pending" | "running" | "completed" | "failed"> = {
  queued: "pending",
  running: "running",
  success: "completed",
  failed: "failed",
};

/** Airflow task-instance state → flowyml step status. */
export const TASK_STATES: Record<
  string,
  "pending" | "running" | "completed" | "failed" | "skipped" | "cancelled"
> = {
  scheduled: "pending",
  queued: "pending",
  running: "running",
  success: "completed",
  failed: "failed",
  upstream_failed: "skipped",
  skipped: "skipped",
  up_for_retry: "running",
  up_for_reschedule: "running",
  restarting: "running",
  deferred: "running",
  removed: "cancelled",
};
