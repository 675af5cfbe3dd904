// Package helmcheck renders a Helm chart with helm's own Go packages (no helm
// binary) and decodes every rendered object strictly into the Kubernetes API
// types: a field the API does not know, a field named with the wrong case, a
// duplicate key or a kind with no type here is an error. No schema is
// downloaded; the types are the schema.
package helmcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Release names the release a chart is rendered as, and the cluster's
// Kubernetes version (DefaultKubeVersion when empty).
type Release struct {
	Name        string
	Namespace   string
	KubeVersion string
}

// DefaultKubeVersion is the cluster version charts are rendered for: the
// oldest Kubernetes release still maintained upstream when the chart was
// written, a floor for the API fields the chart may use.
const DefaultKubeVersion = "v1.32.0"

// Load reads a chart folder (with whatever its charts/ folder holds).
func Load(dir string) (*chart.Chart, error) {
	return loader.LoadDir(dir)
}

// Render renders the chart as `helm install` does: the values coalesced
// with the chart's and its dependencies' (conditions applied), checked
// against any values.schema.json, then every template executed. It returns
// the manifests by template path, NOTES.txt and partials left out.
func Render(ch *chart.Chart, rel Release, values map[string]any) (map[string]string, error) {
	if err := chartutil.ProcessDependenciesWithMerge(ch, values); err != nil {
		return nil, fmt.Errorf("dependencies: %w", err)
	}
	kube := rel.KubeVersion
	if kube == "" {
		kube = DefaultKubeVersion
	}
	caps := chartutil.DefaultCapabilities.Copy()
	v, err := semver.NewVersion(kube)
	if err != nil {
		return nil, fmt.Errorf("kubernetes version %q: %w", kube, err)
	}
	caps.KubeVersion = chartutil.KubeVersion{Version: "v" + v.String(), Major: fmt.Sprint(v.Major()), Minor: fmt.Sprint(v.Minor())}
	// helm install refuses a cluster outside the chart's kubeVersion.
	if kv := ch.Metadata.KubeVersion; kv != "" && !chartutil.IsCompatibleRange(kv, caps.KubeVersion.Version) {
		return nil, fmt.Errorf("chart requires kubeVersion %s, not %s", kv, caps.KubeVersion.Version)
	}
	opts := chartutil.ReleaseOptions{Name: rel.Name, Namespace: rel.Namespace, Revision: 1, IsInstall: true}
	vals, err := chartutil.ToRenderValues(ch, values, opts, caps)
	if err != nil {
		return nil, err
	}
	out, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	for name := range out {
		if strings.HasSuffix(name, "NOTES.txt") || strings.HasPrefix(path.Base(name), "_") {
			delete(out, name)
		}
	}
	return out, nil
}

// Object is one rendered Kubernetes object, decoded into its API type.
type Object struct {
	Source     string // template path
	APIVersion string
	Kind       string
	Name       string
	Value      any // a pointer to the API type, e.g. *appsv1.Deployment
}

// kinds maps apiVersion/kind to a new value of its API type. A kind not here
// is refused, so every object the chart (or a dependency) makes is checked.
var kinds = map[string]func() any{
	"v1/Pod":                                  func() any { return &corev1.Pod{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"v1/PersistentVolumeClaim":                func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                     func() any { return &appsv1.StatefulSet{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/Ingress":            func() any { return &networkingv1.Ingress{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &ServiceMonitor{} },
	"monitoring.coreos.com/v1/PodMonitor":     func() any { return &PodMonitor{} },
}

// docSeparator splits a manifest into YAML documents as helm does.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// Decode splits every manifest into documents and decodes each strictly.
// Empty documents (a template whose condition is off) are skipped. Every
// problem is returned at once.
func Decode(manifests map[string]string) ([]Object, error) {
	names := make([]string, 0, len(manifests))
	for n := range manifests {
		names = append(names, n)
	}
	sort.Strings(names)
	var (
		objs []Object
		errs []error
	)
	for _, n := range names {
		for i, doc := range docSeparator.Split(manifests[n], -1) {
			o, ok, err := decodeDoc(doc)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (document %d): %w", n, i, err))
				continue
			}
			if ok {
				o.Source = n
				objs = append(objs, o)
			}
		}
	}
	return objs, errors.Join(errs...)
}

func decodeDoc(doc string) (Object, bool, error) {
	js, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return Object{}, false, err
	}
	if s := strings.TrimSpace(string(js)); s == "null" || s == "" {
		return Object{}, false, nil
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return Object{}, false, fmt.Errorf("not an object: %w", err)
	}
	key := tm.APIVersion + "/" + tm.Kind
	newValue, ok := kinds[key]
	if !ok {
		return Object{}, false, fmt.Errorf("%s: no API type known for this apiVersion and kind", key)
	}
	v := newValue()
	strict, err := sigsjson.UnmarshalStrict(js, v)
	if err != nil {
		return Object{}, false, fmt.Errorf("%s: %w", key, err)
	}
	if len(strict) > 0 {
		return Object{}, false, fmt.Errorf("%s: %w", key, errors.Join(strict...))
	}
	meta, ok := v.(metav1.Object)
	if !ok {
		return Object{}, false, fmt.Errorf("%s: has no object metadata", key)
	}
	o := Object{APIVersion: tm.APIVersion, Kind: tm.Kind, Name: meta.GetName(), Value: v}
	if err := Validate(o); err != nil {
		return Object{}, false, fmt.Errorf("%s %q: %w", key, o.Name, err)
	}
	return o, true, nil
}

// Validate checks what the API server would refuse and the types cannot
// say: names and labels, a workload's selector matching its pod template,
// container and port names, probes naming a declared port, and an env
// variable set twice.
func Validate(o Object) error {
	meta := o.Value.(metav1.Object)
	var errs []error
	if o.Kind == "Service" {
		for _, m := range validation.IsDNS1035Label(meta.GetName()) {
			errs = append(errs, fmt.Errorf("name: %s", m))
		}
	} else {
		for _, m := range validation.IsDNS1123Subdomain(meta.GetName()) {
			errs = append(errs, fmt.Errorf("name: %s", m))
		}
	}
	errs = append(errs, checkLabels("metadata.labels", meta.GetLabels()))
	switch v := o.Value.(type) {
	case *appsv1.Deployment:
		errs = append(errs, checkWorkload(v.Spec.Selector, v.Spec.Template))
	case *appsv1.StatefulSet:
		errs = append(errs, checkWorkload(v.Spec.Selector, v.Spec.Template))
	case *policyv1.PodDisruptionBudget:
		if (v.Spec.MinAvailable == nil) == (v.Spec.MaxUnavailable == nil) {
			errs = append(errs, errors.New("spec: exactly one of minAvailable and maxUnavailable"))
		}
		if _, err := metav1.LabelSelectorAsSelector(v.Spec.Selector); err != nil || v.Spec.Selector == nil {
			errs = append(errs, fmt.Errorf("spec.selector: %v", err))
		}
	case *corev1.Service:
		for _, p := range v.Spec.Ports {
			if p.Port <= 0 || p.Port > 65535 {
				errs = append(errs, fmt.Errorf("spec.ports %q: port %d", p.Name, p.Port))
			}
		}
	}
	return errors.Join(errs...)
}

func checkLabels(field string, l map[string]string) error {
	var errs []error
	for k, v := range l {
		for _, m := range validation.IsQualifiedName(k) {
			errs = append(errs, fmt.Errorf("%s key %q: %s", field, k, m))
		}
		for _, m := range validation.IsValidLabelValue(v) {
			errs = append(errs, fmt.Errorf("%s %q value %q: %s", field, k, v, m))
		}
	}
	return errors.Join(errs...)
}

func checkWorkload(sel *metav1.LabelSelector, tpl corev1.PodTemplateSpec) error {
	var errs []error
	if sel == nil {
		return errors.New("spec.selector: missing")
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return fmt.Errorf("spec.selector: %w", err)
	}
	if s.Empty() || !s.Matches(labels.Set(tpl.Labels)) {
		errs = append(errs, errors.New("spec.selector does not select the pod template's labels"))
	}
	errs = append(errs, checkLabels("spec.template.metadata.labels", tpl.Labels))
	names := map[string]bool{}
	all := append(append([]corev1.Container{}, tpl.Spec.InitContainers...), tpl.Spec.Containers...)
	if len(tpl.Spec.Containers) == 0 {
		errs = append(errs, errors.New("spec.template: no containers"))
	}
	for _, c := range all {
		if names[c.Name] {
			errs = append(errs, fmt.Errorf("container %q: name used twice", c.Name))
		}
		names[c.Name] = true
		errs = append(errs, checkContainer(c))
	}
	return errors.Join(errs...)
}

func checkContainer(c corev1.Container) error {
	var errs []error
	for _, m := range validation.IsDNS1123Label(c.Name) {
		errs = append(errs, fmt.Errorf("container name %q: %s", c.Name, m))
	}
	if c.Image == "" {
		errs = append(errs, fmt.Errorf("container %q: no image", c.Name))
	}
	ports := map[string]bool{}
	for _, p := range c.Ports {
		if p.Name != "" {
			for _, m := range validation.IsValidPortName(p.Name) {
				errs = append(errs, fmt.Errorf("container %q port %q: %s", c.Name, p.Name, m))
			}
			ports[p.Name] = true
		}
		for _, m := range validation.IsValidPortNum(int(p.ContainerPort)) {
			errs = append(errs, fmt.Errorf("container %q port %q: %s", c.Name, p.Name, m))
		}
	}
	for what, pr := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
		if pr == nil || pr.HTTPGet == nil {
			continue
		}
		if p := pr.HTTPGet.Port; p.StrVal != "" && !ports[p.StrVal] {
			errs = append(errs, fmt.Errorf("container %q %s: port %q is not one of the container's", c.Name, what, p.StrVal))
		}
	}
	seen := map[string]bool{}
	for _, e := range c.Env {
		for _, m := range validation.IsEnvVarName(e.Name) {
			errs = append(errs, fmt.Errorf("container %q env %q: %s", c.Name, e.Name, m))
		}
		if seen[e.Name] {
			errs = append(errs, fmt.Errorf("container %q env %q: set twice", c.Name, e.Name))
		}
		seen[e.Name] = true
	}
	return errors.Join(errs...)
}

// ServiceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) this chart writes; the operator publishes no Go
// API types small enough to import, so decoding into this refuses any field
// outside it.
type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *NamespaceSelector   `json:"namespaceSelector,omitempty"`
		JobLabel          string               `json:"jobLabel,omitempty"`
		Endpoints         []MonitorEndpoint    `json:"endpoints"`
	} `json:"spec"`
}

// PodMonitor is the part of the operator's PodMonitor the NATS chart writes.
type PodMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector            metav1.LabelSelector `json:"selector"`
		NamespaceSelector   *NamespaceSelector   `json:"namespaceSelector,omitempty"`
		PodMetricsEndpoints []MonitorEndpoint    `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// NamespaceSelector picks the namespaces a monitor looks in.
type NamespaceSelector struct {
	Any        bool     `json:"any,omitempty"`
	MatchNames []string `json:"matchNames,omitempty"`
}

// MonitorEndpoint is one scrape target of a monitor.
type MonitorEndpoint struct {
	Port          string `json:"port"`
	Path          string `json:"path,omitempty"`
	Scheme        string `json:"scheme,omitempty"`
	Interval      string `json:"interval,omitempty"`
	ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
}
