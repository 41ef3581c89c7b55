/**
 * `validate()` of the kubernetes orchestrator with the real client against
 * the test API server: the context, the namespace and the permissions
 * (SelfSubjectAccessReview), and the errors a user sees when one is wrong.
 * No pods run here (see kubernetes_test.ts for those).
 */
import assert from "node:assert/strict";
import { KubernetesOrchestrator } from "../../plugins/kubernetes/orchestrator.ts";
import { tempDir } from "../_helpers.ts";
import { startApiServer } from "./_apiserver.ts";

Deno.test({
  name: "kubernetes validate(): context, namespace and permissions against the test API server",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await tempDir("flowyml-k8s-validate-");
    const api = await startApiServer({
      namespaces: ["flowyml"],
      denied: ["get /pods/log", "delete batch/jobs"],
    });
    try {
      const kubeconfig = `${dir.path}/kubeconfig`;
      await api.writeKubeconfig(kubeconfig, "flowyml");
      const make = (o: Record<string, unknown> = {}) =>
        new KubernetesOrchestrator({ kubeconfig, config_map: "cfg", ...o });

      await t.step("denied verbs are listed, as kubectl auth can-i names them", async () => {
        await assert.rejects(
          () => make().validate(),
          (err: Error) => {
            assert.match(err.message, /in namespace "flowyml" of context "test"/);
            assert.match(err.message, /may not: delete batch\/jobs \(RBAC[^)]*\), get pods\/log/);
            assert.doesNotMatch(err.message, /create batch\/jobs/);
            return true;
          },
        );
        const reviews = api.requests.filter((r) => r.includes("selfsubjectaccessreviews"));
        assert.equal(reviews.length, 5, "create/get/delete jobs, list pods, get pods/log");
      });

      await t.step(
        "with every permission it passes; uploading the config asks for ConfigMaps",
        async () => {
          const ok = await startApiServer({ namespaces: ["flowyml"] });
          try {
            const kc = `${dir.path}/ok`;
            await ok.writeKubeconfig(kc, "flowyml");
            assert.equal(await new KubernetesOrchestrator({ kubeconfig: kc }).validate(), true);
            assert.equal(ok.requests.filter((r) => r.includes("accessreviews")).length, 7);
            assert.deepEqual(ok.violations, []);
          } finally {
            await ok.stop();
          }
        },
      );

      await t.step("a missing namespace, a missing context, a refused token", async () => {
        await assert.rejects(
          () => make({ namespace: "nope" }).validate(),
          /namespace "nope" does not exist in context "test" \(http:\/\/127\.0\.0\.1:\d+\)/,
        );
        await assert.rejects(
          () => make({ context: "prod" }).validate(),
          /the kubeconfig has no context "prod"[\s\S]*contexts: test/,
        );
        const bad = `${dir.path}/bad`;
        await api.writeKubeconfig(bad, "flowyml", "wrong-token");
        await assert.rejects(
          () => make({ kubeconfig: bad }).validate(),
          (err: Error & { hint?: string }) => {
            assert.match(err.message, /401 Unauthorized/);
            assert.match(err.hint ?? "", /credentials were refused/);
            return true;
          },
        );
        await assert.rejects(
          () => make({ kubeconfig: `${dir.path}/missing` }).validate(),
          /cannot read the kubeconfig/,
        );
      });
      assert.deepEqual(api.violations, [], "every request matched the published API");
    } finally {
      await api.stop();
      await dir.cleanup();
    }
  },
});
