{{/* The chart's name, cut to a DNS label. */}}
{{- define "madbase.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's prefix for every object; the tiers add -edge, -worker, -control. */}}
{{- define "madbase.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "madbase.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "madbase.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: madbase
{{- end }}

{{/* Selector labels of one tier: (dict "root" $ "tier" "edge"). */}}
{{- define "madbase.selectorLabels" -}}
app.kubernetes.io/name: {{ include "madbase.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .tier }}
{{- end }}

{{- define "madbase.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The Secret the tiers read DATABASE_URL, JWT_SECRET, ... from. */}}
{{- define "madbase.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "madbase.fullname" .) }}
{{- end }}

{{/* NATS_URL: the NATS chart's client Service when it is enabled (named as
that chart names it), otherwise natsURL. */}}
{{- define "madbase.natsURL" -}}
{{- if .Values.nats.enabled }}
{{- $name := "nats" }}
{{- $full := "" }}
{{- if .Values.nats.fullnameOverride }}
{{- $full = .Values.nats.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains $name .Release.Name }}
{{- $full = .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $full = printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- printf "nats://%s:%v" $full (dig "config" "nats" "port" 4222 .Values.nats) }}
{{- else }}
{{- required "natsURL is required when nats.enabled is false" .Values.natsURL }}
{{- end }}
{{- end }}

{{/* A secret variable: (dict "root" $ "name" "JWT_SECRET" "optional" false). */}}
{{- define "madbase.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "madbase.secretName" .root }}
      key: {{ .name }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/* Plain variables from a map, sorted by name. */}}
{{- define "madbase.envMap" -}}
{{- range $k, $v := . }}
- name: {{ $k }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- end }}

{{/* What every tier gets: the instance id (the pod's name), NATS, the
shutdown grace, and GOMAXPROCS from the container's CPU request (rounded up):
without a CPU limit Go sees every CPU of the node, and the database pool (2
connections per CPU) and the edge's event loops (half the CPUs) follow it. */}}
{{- define "madbase.commonEnv" -}}
{{- if .Values.goMaxProcsFromRequests -}}
- name: GOMAXPROCS
  valueFrom:
    resourceFieldRef:
      resource: requests.cpu
      divisor: "1"
{{- end }}
- name: INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: NATS_URL
  value: {{ include "madbase.natsURL" . | quote }}
- name: SHUTDOWN_GRACE
  value: {{ printf "%ds" (int .Values.shutdownGraceSeconds) | quote }}
{{- end }}

{{/* terminationGracePeriodSeconds: the preStop pause, SHUTDOWN_GRACE and the margin. */}}
{{- define "madbase.terminationGrace" -}}
{{- add (int .preStop) (int .root.Values.shutdownGraceSeconds) (int .root.Values.terminationMarginSeconds) }}
{{- end }}

{{/* A tier's pod annotations: Prometheus's scrape annotations (when
metrics.podAnnotations) and the tier's own: (dict "root" $ "port" 8000 "extra" .Values.edge.podAnnotations). */}}
{{- define "madbase.podAnnotations" -}}
{{- $a := dict }}
{{- if .root.Values.metrics.podAnnotations }}
{{- $_ := set $a "prometheus.io/scrape" "true" }}
{{- $_ := set $a "prometheus.io/port" (toString .port) }}
{{- $_ := set $a "prometheus.io/path" "/metrics" }}
{{- end }}
{{- $a = merge $a (.extra | default dict) }}
{{- with $a }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The probes every tier answers on GET /health. */}}
{{- define "madbase.probes" -}}
readinessProbe:
  httpGet:
    path: /health
    port: http
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
livenessProbe:
  httpGet:
    path: /health
    port: http
  initialDelaySeconds: 10
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 6
{{- end }}
