{{/* The name prefix of every object. */}}
{{- define "turnout.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "turnout.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "proxy"). */}}
{{- define "turnout.selector" -}}
app.kubernetes.io/name: {{ default .ctx.Chart.Name .ctx.Values.nameOverride }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "turnout.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{- define "turnout.controllerSA" -}}{{ include "turnout.fullname" . }}-controller{{- end -}}
{{- define "turnout.proxySA" -}}{{ include "turnout.fullname" . }}-proxy{{- end -}}
{{- define "turnout.streamService" -}}{{ include "turnout.fullname" . }}-stream{{- end -}}
{{- define "turnout.proxyService" -}}{{ include "turnout.fullname" . }}-proxy{{- end -}}

{{/* The Secret holding the stream's tls.crt, tls.key and ca.crt. */}}
{{- define "turnout.streamSecret" -}}
{{- if eq .Values.streamTLS.mode "secret" -}}
{{- required "streamTLS.existingSecret is required with streamTLS.mode=secret" .Values.streamTLS.existingSecret -}}
{{- else -}}
{{- include "turnout.fullname" . }}-stream-tls
{{- end -}}
{{- end -}}

{{/* The names the stream certificate must be valid for. */}}
{{- define "turnout.streamDNSNames" -}}
{{- $svc := include "turnout.streamService" . -}}
{{- list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) | toJson -}}
{{- end -}}

{{/*
The hardened container securityContext (every container but the opt-in
sysctl init container): the image runs as uid 1000 and needs no capability,
because every port is >= 1024.
*/}}
{{- define "turnout.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "turnout.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}
