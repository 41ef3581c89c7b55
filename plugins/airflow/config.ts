/**
 * Config of the Airflow orchestrator (`type: airflow`): where the DAG file is
 * written and how Airflow 3's stable REST API (`/api/v2`) is reached.
 * @module
 */
import { z } from "zod";
import { secretSchema } from "../s3/secrets.ts";

/** Config schema of the Airflow orchestrator. */
export const airflowOrchestratorSchema = z.object({
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

/** Parsed Airflow config. */
export type AirflowConfig = z.output<typeof airflowOrchestratorSchema>;

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
