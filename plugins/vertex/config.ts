/**
 * Config of the Vertex AI Pipelines orchestrator (`type: vertex`). Light:
 * validating a config loads neither the REST client nor google-auth-library.
 * @module
 */
import { z } from "zod";
import type { Schema } from "../../kernel/schema.ts";
import { secretSchema } from "../s3/secrets.ts";

/**
 * Parsed Vertex orchestrator config (`orchestrator: { type: vertex, … }`). A secret is a literal,
 * `{ env: NAME }` (an environment variable) or `{ file: PATH }`.
 */
export interface VertexConfig {
  /** Instance name (default `vertex`). */
  name?: string;
  /** Google Cloud project id. */
  project: string;
  /** Vertex AI region, i.e. location (default `us-central1`). */
  region: string;
  /** Image of the steps (default: the run's `docker.image`); `flowyml image build` pushes it. */
  image?: string;
  /** REST root (default `https://{region}-aiplatform.googleapis.com`). */
  api_endpoint?: string;
  /**
   * An OAuth2 access token (a secret); default `$GOOGLE_OAUTH_ACCESS_TOKEN`, else Application
   * Default Credentials (google-auth-library).
   */
  token?: string | { env: string } | { file: string };
  /** Service account the pipeline job runs as. */
  service_account?: string;
  /**
   * `runtimeConfig.gcsOutputDirectory` (default: the artifact store's `vertex_root/` when it is
   * on gs://).
   */
  pipeline_root?: string;
  /** VPC network the job peers with. */
  network?: string;
  /** Labels of the pipeline job (default none). */
  labels: Record<string, string>;
  /** Stack the steps use in the image (default: the run's). */
  stack?: string;
  /** Where the project is in the image (default `/app`). */
  app_dir: string;
  /** Folder `image build` packed (default: cwd). */
  project_root?: string;
  /** Status poll interval in ms (default 10000). */
  poll_ms: number;
}

const vertexObject = z.object({
  name: z.string().optional(),
  project: z.string().min(1).describe("Google Cloud project id"),
  region: z.string().default("us-central1").describe("Vertex AI region (location)"),
  image: z.string().optional().describe(
    "image of the steps (default: the run's docker.image); `flowyml image build` pushes it",
  ),
  api_endpoint: z.string().optional().describe(
    "REST root (default https://{region}-aiplatform.googleapis.com)",
  ),
  token: secretSchema.optional().describe(
    "an OAuth2 access token; default $GOOGLE_OAUTH_ACCESS_TOKEN, else Application Default " +
      "Credentials (google-auth-library)",
  ),
  service_account: z.string().optional().describe("service account the pipeline job runs as"),
  pipeline_root: z.string().optional().describe(
    "runtimeConfig.gcsOutputDirectory (default: the artifact store's `vertex_root/` when it is gs://)",
  ),
  network: z.string().optional().describe("VPC network the job peers with"),
  labels: z.record(z.string(), z.string()).default({}).describe("labels of the pipeline job"),
  stack: z.string().optional().describe("stack the steps use in the image (default: the run's)"),
  app_dir: z.string().default("/app").describe("where the project is in the image"),
  project_root: z.string().optional().describe("folder `image build` packed (default: cwd)"),
  poll_ms: z.number().int().positive().default(10_000).describe("status poll interval"),
}).strict();

/** Config schema of the Vertex orchestrator (parses to {@linkcode VertexConfig}). */
export const vertexOrchestratorSchema: Schema<VertexConfig> = vertexObject;

/** Vertex `PipelineState` → flowyml run status. */
export const JOB_STATES: Record<
  string,
  "pending" | "running" | "completed" | "failed" | "cancelled"
> = {
  PIPELINE_STATE_UNSPECIFIED: "pending",
  PIPELINE_STATE_QUEUED: "pending",
  PIPELINE_STATE_PENDING: "pending",
  PIPELINE_STATE_RUNNING: "running",
  PIPELINE_STATE_SUCCEEDED: "completed",
  PIPELINE_STATE_FAILED: "failed",
  PIPELINE_STATE_CANCELLING: "running",
  PIPELINE_STATE_CANCELLED: "cancelled",
  PIPELINE_STATE_PAUSED: "running",
};

/** Vertex `PipelineTaskDetail.State` → flowyml step status. */
export const TASK_STATES: Record<
  string,
  "pending" | "running" | "completed" | "failed" | "skipped" | "cancelled"
> = {
  STATE_UNSPECIFIED: "pending",
  PENDING: "pending",
  RUNNING: "running",
  SUCCEEDED: "completed",
  CANCEL_PENDING: "running",
  CANCELLING: "running",
  CANCELLED: "cancelled",
  FAILED: "failed",
  SKIPPED: "skipped",
  NOT_TRIGGERED: "skipped",
};
