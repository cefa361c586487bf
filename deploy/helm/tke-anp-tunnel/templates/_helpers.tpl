{{/*
Shared names, labels, checks and security settings. Only Go template and
Sprig functions that deploy/helm/render.mjs supports are used here, so that
`helm template` and render.mjs give the same objects.
*/}}

{{/* Base name of every object: fullnameOverride, else "tunnel". */}}
{{- define "tunnel.fullname" -}}
{{- .Values.fullnameOverride | default "tunnel" | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* The topology; fails on anything but one-to-many or one-to-one. */}}
{{- define "tunnel.topology" -}}
{{- if or (eq .Values.topology "one-to-many") (eq .Values.topology "one-to-one") -}}
{{- .Values.topology -}}
{{- else -}}
{{- fail (printf "topology must be one-to-many or one-to-one, not %q" (toString .Values.topology)) -}}
{{- end -}}
{{- end -}}

{{/* "true" for one-to-many (HA features), "" otherwise. */}}
{{- define "tunnel.ha" -}}
{{- if eq (include "tunnel.topology" .) "one-to-many" -}}true{{- end -}}
{{- end -}}

{{/* Server replicas, also --server-count: server.replicas, 1 for one-to-one. */}}
{{- define "tunnel.serverReplicas" -}}
{{- if include "tunnel.ha" . -}}{{ .Values.server.replicas }}{{- else -}}1{{- end -}}
{{- end -}}

{{/* How agents authenticate: mtls or token; empty server.agentAuth picks by topology. */}}
{{- define "tunnel.agentAuth" -}}
{{- if .Values.server.agentAuth -}}
{{- if or (eq .Values.server.agentAuth "mtls") (eq .Values.server.agentAuth "token") -}}
{{- .Values.server.agentAuth -}}
{{- else -}}
{{- fail (printf "server.agentAuth must be mtls or token, not %q" (toString .Values.server.agentAuth)) -}}
{{- end -}}
{{- else if include "tunnel.ha" . -}}mtls
{{- else -}}token
{{- end -}}
{{- end -}}

{{/* files or csr; fails on anything else. */}}
{{- define "tunnel.certSource" -}}
{{- if or (eq .Values.certs.source "files") (eq .Values.certs.source "csr") -}}
{{- .Values.certs.source -}}
{{- else -}}
{{- fail (printf "certs.source must be files or csr, not %q" (toString .Values.certs.source)) -}}
{{- end -}}
{{- end -}}

{{/* Type of the public agent Service: server.agentService.type, else by topology. */}}
{{- define "tunnel.agentServiceType" -}}
{{- if .Values.server.agentService.type -}}
{{- .Values.server.agentService.type -}}
{{- else if include "tunnel.ha" . -}}LoadBalancer
{{- else -}}NodePort
{{- end -}}
{{- end -}}

{{/* The image reference. */}}
{{- define "tunnel.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* Labels of every object; call with (dict "root" $ "component" "server"). */}}
{{- define "tunnel.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tunnel.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: tke-anp-tunnel
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels; call with (dict "root" $ "component" "server"). */}}
{{- define "tunnel.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Pod security context: non-root, RuntimeDefault seccomp. */}}
{{- define "tunnel.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsUser }}
fsGroup: {{ .Values.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container security context: read-only root, no privilege escalation, no capabilities. */}}
{{- define "tunnel.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsUser }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Liveness and readiness probes on the named port "health". */}}
{{- define "tunnel.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: health
  initialDelaySeconds: 5
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: health
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}
