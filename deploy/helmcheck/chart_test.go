package helmcheck

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// chartDir is the MadBase chart, from this module's folder.
const chartDir = "../helm/madbase"

// chartSecrets are the values of the chart-made Secret in the bundled set;
// none may appear in a rendered object other than that Secret.
var chartSecrets = map[string]string{
	"DATABASE_URL":   "postgres://madbase:pg-pass-4f1c@pg-rw.db:5432/madbase?sslmode=require",
	"JWT_SECRET":     "9c0f3e5a7b1d4c2e8f6a0b9d7c5e3a1f2b4d6c8e",
	"ADMIN_PASSWORD": "admin-pass-8d2b71",
	"S3_ACCESS_KEY":  "s3-access-a91c",
	"S3_SECRET_KEY":  "s3-secret-5e07b2d9",
	"REDIS_URL":      "redis://:redis-pass-77@redis.cache:6379/0",
}

// existingSecret stands in for the Secret an operator made for the
// external set (the chart only names it).
var existingSecret = map[string]string{
	"DATABASE_URL":   "postgres://app:x7Yp@cnpg-rw.db:5432/app",
	"JWT_SECRET":     "1f2e3d4c5b6a79880796a5b4c3d2e1f00f1e2d3c",
	"ADMIN_PASSWORD": "another-admin-pass-3c",
	"S3_ACCESS_KEY":  "AKIAEXTERNAL",
	"S3_SECRET_KEY":  "external-s3-secret-value",
}

// valueSet is one way to install the chart and what it must produce.
type valueSet struct {
	name    string
	values  string
	release Release

	wantEdgeReplicas    int32
	wantWorkerReplicas  *int32 // nil: the HPA owns the count
	wantHPA             *[2]int32
	wantControlReplicas int32
	wantNATSURL         string
	wantSecretName      string
	secretData          map[string]string // nil: the chart makes the Secret
	wantGrace           time.Duration
	wantMonitors        bool
	wantScrapeAnno      bool
}

func ptr[T any](v T) *T { return &v }

var valueSets = []valueSet{
	{
		name:    "bundled NATS, chart-made Secret, autoscaled workers",
		release: Release{Name: "prod", Namespace: "madbase"},
		values: `
image: {repository: registry.example.org/madbase, tag: "1.4.0"}
s3: {endpoint: s3.eu-west-1.amazonaws.com, useSSL: true, bucket: prod-objects, region: eu-west-1}
secrets:
  values:
    DATABASE_URL: "postgres://madbase:pg-pass-4f1c@pg-rw.db:5432/madbase?sslmode=require"
    JWT_SECRET: "9c0f3e5a7b1d4c2e8f6a0b9d7c5e3a1f2b4d6c8e"
    ADMIN_PASSWORD: "admin-pass-8d2b71"
    S3_ACCESS_KEY: "s3-access-a91c"
    S3_SECRET_KEY: "s3-secret-5e07b2d9"
    REDIS_URL: "redis://:redis-pass-77@redis.cache:6379/0"
env:
  API_EXTERNAL_URL: https://api.example.org
  SITE_URL: https://app.example.org
`,
		wantEdgeReplicas:    2,
		wantHPA:             &[2]int32{2, 10},
		wantControlReplicas: 1,
		wantNATSURL:         "nats://prod-nats:4222",
		wantSecretName:      "prod-madbase",
		wantGrace:           20 * time.Second,
		wantScrapeAnno:      true,
	},
	{
		name:    "external NATS, existing Secret, fixed workers, ServiceMonitors",
		release: Release{Name: "madbase", Namespace: "apps"},
		values: `
nats: {enabled: false}
natsURL: "nats://nats-0.nats.infra:4222,nats://nats-1.nats.infra:4222"
secrets: {existingSecret: madbase-credentials}
s3: {endpoint: "minio.storage:9000", useSSL: false}
shutdownGraceSeconds: 45
edge:
  replicas: 3
  service: {type: LoadBalancer}
  env: {EDGE_TRUST_FORWARDED: "true"}
  podAnnotations: {example.org/team: api}
workers:
  autoscaling: {enabled: false}
  replicas: 4
  env: {AUTH_AUTOCONFIRM: "true", DB_MAX_ROWS: "500", WORKER_PORT: "9999", GOMAXPROCS: "8"}
env: {LOG_LEVEL: debug}
metrics:
  podAnnotations: false
  serviceMonitor: {enabled: true, labels: {release: kube-prometheus}}
`,
		wantEdgeReplicas:    3,
		wantWorkerReplicas:  ptr(int32(4)),
		wantControlReplicas: 1,
		wantNATSURL:         "nats://nats-0.nats.infra:4222,nats://nats-1.nats.infra:4222",
		wantSecretName:      "madbase-credentials",
		secretData:          existingSecret,
		wantGrace:           45 * time.Second,
		wantMonitors:        true,
	},
}

// rendered is one value set's objects, indexed.
type rendered struct {
	objs    []Object
	byKey   map[string]Object // kind/name
	full    string
	release Release
}

func (r rendered) get(t *testing.T, kind, name string) any {
	t.Helper()
	o, ok := r.byKey[kind+"/"+name]
	require.True(t, ok, "no %s %q among %v", kind, name, keys(r.byKey))
	return o.Value
}

func keys(m map[string]Object) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func render(t *testing.T, vs valueSet) rendered {
	t.Helper()
	ch, err := Load(chartDir)
	require.NoError(t, err)
	vals, err := chartutil.ReadValues([]byte(vs.values))
	require.NoError(t, err)
	manifests, err := Render(ch, vs.release, vals)
	require.NoError(t, err)
	objs, err := Decode(manifests)
	require.NoError(t, err, "every rendered object must decode strictly into its API type")
	r := rendered{objs: objs, byKey: map[string]Object{}, release: vs.release}
	for _, o := range objs {
		k := o.Kind + "/" + o.Name
		require.NotContains(t, r.byKey, k, "two objects named %s", k)
		r.byKey[k] = o
	}
	r.full = vs.release.Name + "-madbase"
	if strings.Contains(vs.release.Name, "madbase") {
		r.full = vs.release.Name
	}
	return r
}

var tiers = []struct {
	name, portVar string
	port          int32
	preStop       int64
}{
	{"edge", "EDGE_PORT", 8000, 5},
	{"worker", "WORKER_PORT", 8002, 0},
	{"control", "CONTROL_PORT", 8001, 5},
}

func TestChartRendersValidObjects(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			r := render(t, vs)
			checkKinds(t, r, vs)
			for _, tier := range tiers {
				t.Run(tier.name, func(t *testing.T) {
					d := r.get(t, "Deployment", r.full+"-"+tier.name).(*appsv1.Deployment)
					checkTier(t, r, vs, tier.name, tier.portVar, tier.port, tier.preStop, d)
				})
			}
			checkReplicas(t, r, vs)
			checkEdgeService(t, r, vs)
			checkSecrets(t, r, vs)
			checkMonitoring(t, r, vs)
		})
	}
}

// checkKinds pins which objects each set makes, so a new kind is a decision.
func checkKinds(t *testing.T, r rendered, vs valueSet) {
	want := map[string]bool{}
	for _, tier := range []string{"edge", "worker", "control"} {
		want["Deployment/"+r.full+"-"+tier] = true
		want["Service/"+r.full+"-"+tier] = true
		if vs.wantMonitors {
			want["ServiceMonitor/"+r.full+"-"+tier] = true
		}
	}
	want["PodDisruptionBudget/"+r.full+"-edge"] = true
	if vs.wantHPA != nil {
		want["HorizontalPodAutoscaler/"+r.full+"-worker"] = true
	}
	if vs.secretData == nil {
		want["Secret/"+vs.wantSecretName] = true
	}
	got := map[string]bool{}
	for k := range r.byKey {
		got[k] = true
	}
	assert.Equal(t, want, got)
}

func checkTier(t *testing.T, r rendered, vs valueSet, tier, portVar string, port int32, preStop int64, d *appsv1.Deployment) {
	spec := d.Spec.Template.Spec
	require.Len(t, spec.Containers, 1)
	c := spec.Containers[0]
	assert.Equal(t, []string{tier}, c.Args, "the image's entrypoint is madbase; the subcommand picks the tier")
	assert.Equal(t, spec.Containers[0].Image, r.get(t, "Deployment", r.full+"-edge").(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Image, "one image for every tier")
	require.Len(t, c.Ports, 1)
	assert.Equal(t, corev1.ContainerPort{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}, c.Ports[0])

	// Readiness and liveness on GET /health of the tier's own port.
	for what, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		require.NotNil(t, p, what)
		require.NotNil(t, p.HTTPGet, what)
		assert.Equal(t, "/health", p.HTTPGet.Path, what)
		assert.Equal(t, "http", p.HTTPGet.Port.StrVal, what)
	}
	// A draining worker answers 503 on /health for up to SHUTDOWN_GRACE:
	// liveness must not restart it before the grace is over.
	env := resolveEnv(t, r, vs, d, c)
	grace, err := time.ParseDuration(env["SHUTDOWN_GRACE"])
	require.NoError(t, err)
	assert.Equal(t, vs.wantGrace, grace)
	live := time.Duration(c.LivenessProbe.PeriodSeconds*c.LivenessProbe.FailureThreshold) * time.Second
	assert.Greater(t, live, grace, "liveness gives up only after SHUTDOWN_GRACE")

	// terminationGracePeriodSeconds covers the preStop pause, SHUTDOWN_GRACE
	// and a margin for closing streams, NATS and the pool.
	var sleep int64
	if preStop > 0 {
		require.NotNil(t, c.Lifecycle, "preStop pause")
		require.NotNil(t, c.Lifecycle.PreStop.Exec)
		assert.Equal(t, []string{"sleep", fmt.Sprint(preStop)}, c.Lifecycle.PreStop.Exec.Command)
		sleep = preStop
	} else {
		assert.Nil(t, c.Lifecycle)
	}
	require.NotNil(t, spec.TerminationGracePeriodSeconds)
	assert.Equal(t, sleep+int64(grace/time.Second)+10, *spec.TerminationGracePeriodSeconds)

	// The rolling update never takes a serving pod away before its
	// replacement is ready.
	require.NotNil(t, d.Spec.Strategy.RollingUpdate)
	assert.Equal(t, 0, d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue())

	// The container's environment passes the tier's own start-up checks,
	// and sets only variables MadBase reads.
	// POD_IP feeds WORKER_ADVERTISE_URL; GOMAXPROCS is the Go runtime's.
	known := map[string]bool{"POD_IP": true, "GOMAXPROCS": true}
	for _, v := range config.Vars() {
		known[v.Name] = true
	}
	for name := range env {
		assert.True(t, known[name], "%s: MadBase reads no variable %s", tier, name)
	}
	assert.Equal(t, fmt.Sprint(port), env[portVar])
	assert.Equal(t, vs.wantNATSURL, env["NATS_URL"])
	assert.Equal(t, "1", env["GOMAXPROCS"], "the CPU request, rounded up")
	assert.Equal(t, "prodpod-"+tier, env["INSTANCE_ID"], "instance id is the pod's name")
	switch tier {
	case "edge":
		var cfg config.Edge
		require.NoError(t, config.Load(&cfg, config.Map(env)))
		assert.NoError(t, cfg.Validate(true))
		assert.Equal(t, fmt.Sprintf("http://%s-control:8001", r.full), env["CONTROL_UPSTREAM_URL"], "control's Service")
		svc := r.get(t, "Service", r.full+"-control").(*corev1.Service)
		assert.Equal(t, int32(8001), svc.Spec.Ports[0].Port)
	case "worker":
		var cfg config.Worker
		require.NoError(t, config.Load(&cfg, config.Map(env)))
		assert.NoError(t, cfg.Validate(false))
		assert.Equal(t, "s3", cfg.Backend)
		// The edge reaches each worker at the address it announces: its pod IP.
		assert.Equal(t, "http://10.42.0.7:8002", cfg.AdvertiseURL)
		if assert.Len(t, spec.InitContainers, 1) {
			ic := spec.InitContainers[0]
			assert.Equal(t, []string{"migrate"}, ic.Args)
			assert.Equal(t, c.Image, ic.Image)
			ienv := resolveEnv(t, r, vs, d, ic)
			assert.Equal(t, env["DATABASE_URL"], ienv["DATABASE_URL"])
		}
		require.NotNil(t, c.Resources.Requests.Cpu(), "the HPA's CPU utilization needs a CPU request")
		assert.False(t, c.Resources.Requests.Cpu().IsZero())
	case "control":
		var cfg config.Control
		require.NoError(t, config.Load(&cfg, config.Map(env)))
		assert.NoError(t, cfg.Validate(false))
	}

	// Prometheus scrape annotations on the pod, pointing at the tier's port.
	a := d.Spec.Template.Annotations
	if vs.wantScrapeAnno {
		assert.Equal(t, "true", a["prometheus.io/scrape"])
		assert.Equal(t, fmt.Sprint(port), a["prometheus.io/port"])
		assert.Equal(t, "/metrics", a["prometheus.io/path"])
	} else {
		assert.NotContains(t, a, "prometheus.io/scrape")
	}
	if tier == "edge" && vs.wantMonitors {
		assert.Equal(t, "api", a["example.org/team"], "edge.podAnnotations")
	}

	// Every object's own Service selects exactly this tier's pods.
	svc := r.get(t, "Service", r.full+"-"+tier).(*corev1.Service)
	for _, other := range r.objs {
		od, ok := other.Value.(*appsv1.Deployment)
		if !ok {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		assert.Equal(t, od.Name == d.Name, sel.Matches(labels.Set(od.Spec.Template.Labels)), "Service %s selecting pods of %s", svc.Name, od.Name)
	}
	assert.Equal(t, "http", svc.Spec.Ports[0].TargetPort.StrVal)
}

// resolveEnv computes the environment a container gets: plain values, the
// pod's name and IP from the downward API, keys of the Secret (the rendered
// one, or the operator's for an existing Secret), then $(VAR) references.
func resolveEnv(t *testing.T, r rendered, vs valueSet, d *appsv1.Deployment, c corev1.Container) map[string]string {
	t.Helper()
	secret := vs.secretData
	if secret == nil {
		s := r.get(t, "Secret", vs.wantSecretName).(*corev1.Secret)
		secret = s.StringData
	}
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	env := map[string]string{}
	tier := d.Spec.Template.Labels["app.kubernetes.io/component"]
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = ref.ReplaceAllStringFunc(e.Value, func(m string) string {
				if v, ok := env[m[2:len(m)-1]]; ok {
					return v
				}
				return m
			})
		case e.ValueFrom.FieldRef != nil:
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				env[e.Name] = "prodpod-" + tier
			case "status.podIP":
				env[e.Name] = "10.42.0.7"
			default:
				t.Fatalf("%s: unexpected fieldRef %s", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.ResourceFieldRef != nil:
			rf := e.ValueFrom.ResourceFieldRef
			require.Equal(t, "requests.cpu", rf.Resource, e.Name)
			require.Equal(t, "1", rf.Divisor.String(), e.Name)
			cpu := c.Resources.Requests.Cpu()
			require.False(t, cpu.IsZero(), "%s: %s from a CPU request that is not set", c.Name, e.Name)
			env[e.Name] = fmt.Sprint((cpu.MilliValue() + 999) / 1000) // the kubelet rounds up
		case e.ValueFrom.SecretKeyRef != nil:
			k := e.ValueFrom.SecretKeyRef
			assert.Equal(t, vs.wantSecretName, k.Name, e.Name)
			v, ok := secret[k.Key]
			if !ok {
				require.True(t, k.Optional != nil && *k.Optional, "%s: key %s missing from Secret %s and not optional", e.Name, k.Key, k.Name)
				continue
			}
			env[e.Name] = v
		default:
			t.Fatalf("%s: unexpected valueFrom %+v", e.Name, e.ValueFrom)
		}
	}
	return env
}

func checkReplicas(t *testing.T, r rendered, vs valueSet) {
	edge := r.get(t, "Deployment", r.full+"-edge").(*appsv1.Deployment)
	worker := r.get(t, "Deployment", r.full+"-worker").(*appsv1.Deployment)
	control := r.get(t, "Deployment", r.full+"-control").(*appsv1.Deployment)
	require.NotNil(t, edge.Spec.Replicas)
	assert.Equal(t, vs.wantEdgeReplicas, *edge.Spec.Replicas)
	require.NotNil(t, control.Spec.Replicas)
	assert.Equal(t, vs.wantControlReplicas, *control.Spec.Replicas)
	assert.Equal(t, vs.wantWorkerReplicas, worker.Spec.Replicas, "with the HPA on, the Deployment leaves the count to it")

	// The edge's PDB selects the edge pods and only them, and lets one go.
	pdb := r.get(t, "PodDisruptionBudget", r.full+"-edge").(*policyv1.PodDisruptionBudget)
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	require.NoError(t, err)
	for _, d := range []*appsv1.Deployment{edge, worker, control} {
		assert.Equal(t, d == edge, sel.Matches(labels.Set(d.Spec.Template.Labels)), "PDB selecting %s", d.Name)
	}
	require.NotNil(t, pdb.Spec.MinAvailable)
	assert.Less(t, int32(pdb.Spec.MinAvailable.IntValue()), vs.wantEdgeReplicas, "a node drain can still evict an edge")

	if vs.wantHPA == nil {
		return
	}
	hpa := r.get(t, "HorizontalPodAutoscaler", r.full+"-worker").(*autoscalingv2.HorizontalPodAutoscaler)
	assert.Equal(t, autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: worker.Name}, hpa.Spec.ScaleTargetRef)
	require.NotNil(t, hpa.Spec.MinReplicas)
	assert.Equal(t, vs.wantHPA[0], *hpa.Spec.MinReplicas)
	assert.Equal(t, vs.wantHPA[1], hpa.Spec.MaxReplicas)
	require.Len(t, hpa.Spec.Metrics, 1)
	m := hpa.Spec.Metrics[0]
	require.Equal(t, autoscalingv2.ResourceMetricSourceType, m.Type)
	assert.Equal(t, corev1.ResourceCPU, m.Resource.Name)
	assert.Equal(t, autoscalingv2.UtilizationMetricType, m.Resource.Target.Type)
	require.NotNil(t, m.Resource.Target.AverageUtilization)
	assert.Equal(t, int32(70), *m.Resource.Target.AverageUtilization)
}

func checkEdgeService(t *testing.T, r rendered, vs valueSet) {
	svc := r.get(t, "Service", r.full+"-edge").(*corev1.Service)
	want := corev1.ServiceTypeClusterIP
	if vs.wantMonitors {
		want = corev1.ServiceTypeLoadBalancer
	}
	assert.Equal(t, want, svc.Spec.Type)
	assert.Equal(t, int32(80), svc.Spec.Ports[0].Port)
	worker := r.get(t, "Service", r.full+"-worker").(*corev1.Service)
	assert.Equal(t, corev1.ClusterIPNone, worker.Spec.ClusterIP, "workers are found over NATS; their Service only names them")
}

// checkSecrets: secret values reach the pods only through secretKeyRef; no
// rendered object but the chart's own Secret holds one.
func checkSecrets(t *testing.T, r rendered, vs valueSet) {
	secretVars := map[string]bool{"DATABASE_URL": true, "JWT_SECRET": true, "ADMIN_PASSWORD": true, "S3_ACCESS_KEY": true, "S3_SECRET_KEY": true, "REDIS_URL": true, "SMTP_PASS": true}
	for _, o := range r.objs {
		if o.Kind == "Secret" {
			continue
		}
		b, err := yaml.Marshal(o.Value)
		require.NoError(t, err)
		for _, secrets := range []map[string]string{chartSecrets, existingSecret} {
			for name, v := range secrets {
				assert.False(t, strings.Contains(string(b), v), "%s %s holds the value of %s", o.Kind, o.Name, name)
			}
		}
		d, ok := o.Value.(*appsv1.Deployment)
		if !ok {
			continue
		}
		for _, c := range append(append([]corev1.Container{}, d.Spec.Template.Spec.InitContainers...), d.Spec.Template.Spec.Containers...) {
			for _, e := range c.Env {
				if secretVars[e.Name] {
					if assert.NotNil(t, e.ValueFrom, "%s/%s %s must come from a Secret", d.Name, c.Name, e.Name) {
						assert.NotNil(t, e.ValueFrom.SecretKeyRef, "%s/%s %s", d.Name, c.Name, e.Name)
					}
				}
			}
		}
	}
	if vs.secretData == nil {
		s := r.get(t, "Secret", vs.wantSecretName).(*corev1.Secret)
		assert.Equal(t, chartSecrets, s.StringData)
	}
}

func checkMonitoring(t *testing.T, r rendered, vs valueSet) {
	if !vs.wantMonitors {
		return
	}
	for _, tier := range tiers {
		sm := r.get(t, "ServiceMonitor", r.full+"-"+tier.name).(*ServiceMonitor)
		assert.Equal(t, "kube-prometheus", sm.Labels["release"])
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		require.NoError(t, err)
		for _, o := range r.objs {
			svc, ok := o.Value.(*corev1.Service)
			if !ok {
				continue
			}
			assert.Equal(t, svc.Name == r.full+"-"+tier.name, sel.Matches(labels.Set(svc.Labels)), "ServiceMonitor %s selecting Service %s", sm.Name, svc.Name)
		}
		require.Len(t, sm.Spec.Endpoints, 1)
		assert.Equal(t, MonitorEndpoint{Port: "http", Path: "/metrics", Interval: "15s"}, sm.Spec.Endpoints[0])
	}
}

// TestChartDeclaresNATS: NATS comes from the official chart, clustered with
// JetStream, and can be swapped for an external one.
func TestChartDeclaresNATS(t *testing.T) {
	ch, err := Load(chartDir)
	require.NoError(t, err)
	require.Len(t, ch.Metadata.Dependencies, 1)
	dep := ch.Metadata.Dependencies[0]
	assert.Equal(t, "nats", dep.Name)
	assert.Equal(t, "https://nats-io.github.io/k8s/helm/charts/", dep.Repository)
	assert.Equal(t, "nats.enabled", dep.Condition)
	assert.Regexp(t, `^\d+\.\d+\.\d+$`, dep.Version, "a pinned chart version")

	nats := ch.Values["nats"].(map[string]any)
	assert.Equal(t, true, nats["enabled"])
	cfg := nats["config"].(map[string]any)
	cluster := cfg["cluster"].(map[string]any)
	assert.Equal(t, true, cluster["enabled"])
	assert.GreaterOrEqual(t, cluster["replicas"], float64(3), "JetStream needs a quorum")
	assert.Equal(t, true, cfg["jetstream"].(map[string]any)["enabled"])

	// helm install checks kubeVersion against the cluster; Render does too.
	_, err = Render(ch, Release{Name: "r", Namespace: "n", KubeVersion: "v1.24.9"}, map[string]any{})
	if assert.Error(t, err) {
		assert.Contains(t, err.Error(), "chart requires kubeVersion")
	}
}

// TestNATSURLFollowsTheNATSChart: with the bundled NATS, the tiers' NATS_URL
// names the client Service as the NATS chart names it.
func TestNATSURLFollowsTheNATSChart(t *testing.T) {
	for _, tc := range []struct{ release, values, want string }{
		{"prod", ``, "nats://prod-nats:4222"},
		{"nats-eu", ``, "nats://nats-eu:4222"},
		{"prod", `nats: {fullnameOverride: bus}`, "nats://bus:4222"},
		{"prod", `nats: {config: {nats: {port: 4333}}}`, "nats://prod-nats:4333"},
	} {
		ch, err := Load(chartDir)
		require.NoError(t, err)
		vals, err := chartutil.ReadValues([]byte(tc.values + "\nsecrets: {existingSecret: s}\ns3: {endpoint: s3.local}\n"))
		require.NoError(t, err)
		m, err := Render(ch, Release{Name: tc.release, Namespace: "n"}, vals)
		require.NoError(t, err)
		objs, err := Decode(m)
		require.NoError(t, err)
		n := 0
		for _, o := range objs {
			d, ok := o.Value.(*appsv1.Deployment)
			if !ok {
				continue
			}
			for _, e := range d.Spec.Template.Spec.Containers[0].Env {
				if e.Name == "NATS_URL" {
					assert.Equal(t, tc.want, e.Value, "%s %s", tc.release, tc.values)
					n++
				}
			}
		}
		assert.Equal(t, 3, n, "every tier gets NATS_URL")
	}
}

// TestChartRefusesMissingValues: what the tiers cannot start without is
// asked for by name at install time, and a value the chart does not know is
// refused.
func TestChartRefusesMissingValues(t *testing.T) {
	for _, tc := range []struct{ values, want string }{
		{`s3: {endpoint: s3.local}`, "secrets.values.DATABASE_URL is required"},
		{`{secrets: {existingSecret: x}}`, "s3.endpoint is required"},
		{`{secrets: {existingSecret: x}, s3: {endpoint: s3.local}, nats: {enabled: false}}`, "natsURL is required"},
		// values.schema.json: a misspelt or mistyped value fails instead of being ignored.
		{`{secrets: {existingSecret: x}, s3: {endpoint: s3.local}, edge: {replica: 3}}`, "'replica' not allowed"},
		{`{secrets: {existingSecret: x}, s3: {endpoint: s3.local}, workers: {env: {log_level: debug}}}`, "log_level"},
		{`{secrets: {existingSecret: x}, s3: {endpoint: s3.local}, shutdownGraceSeconds: 20s}`, "shutdownGraceSeconds"},
	} {
		ch, err := Load(chartDir)
		require.NoError(t, err)
		vals, err := chartutil.ReadValues([]byte(tc.values))
		require.NoError(t, err)
		_, err = Render(ch, Release{Name: "r", Namespace: "n"}, vals)
		if assert.Error(t, err, tc.values) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
}

// TestDecodeIsStrict: the check refuses what the API server would: unknown
// fields (also in the wrong case), duplicate keys, kinds it has no type for,
// bad quantities, a selector that misses its pods.
func TestDecodeIsStrict(t *testing.T) {
	const ok = `apiVersion: apps/v1
kind: Deployment
metadata: {name: d, labels: {app: d}}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      containers:
        - name: c
          image: i
          ports: [{name: http, containerPort: 80}]
          readinessProbe: {httpGet: {path: /health, port: http}}
          resources: {requests: {cpu: 100m}}
`
	objs, err := Decode(map[string]string{"t.yaml": ok + "---\n# only a comment\n"})
	require.NoError(t, err)
	require.Len(t, objs, 1)
	assert.IsType(t, &appsv1.Deployment{}, objs[0].Value)

	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", strings.Replace(ok, "image: i", "image: i\n          imagePolicy: Always", 1), `unknown field "spec.template.spec.containers[0].imagePolicy"`},
		{"wrong case", strings.Replace(ok, "readinessProbe", "ReadinessProbe", 1), `unknown field "spec.template.spec.containers[0].ReadinessProbe"`},
		{"duplicate key", strings.Replace(ok, "image: i", "image: i\n          image: j", 1), "already set"},
		{"unknown kind", strings.Replace(ok, "kind: Deployment", "kind: Deploymnet", 1), "no API type known"},
		{"old apiVersion", strings.Replace(ok, "apps/v1", "extensions/v1beta1", 1), "no API type known"},
		{"bad quantity", strings.Replace(ok, "cpu: 100m", "cpu: lots", 1), "quantities must match"},
		{"selector misses pods", strings.Replace(ok, "matchLabels: {app: d}", "matchLabels: {app: e}", 1), "does not select"},
		{"probe on an undeclared port", strings.Replace(ok, "port: http}", "port: metrics}", 1), `port "metrics" is not one of the container's`},
		{"bad name", strings.Replace(ok, "name: d,", "name: D_1,", 1), "name:"},
		{"wrong type", strings.Replace(ok, "containerPort: 80", "containerPort: eighty", 1), "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(map[string]string{"t.yaml": tc.doc})
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tc.want)
			}
		})
	}
}
