{{- define "kjs.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kjs.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kjs.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "kjs.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The kjs config file: the user's `config`, plus what the chart's own values decide. */}}
{{- define "kjs.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $agent := get $config "agent" | default dict -}}
{{- $_ := set $agent "lease_namespace" .Release.Namespace -}}
{{- $_ = set $agent "namespaces" .Values.agent.namespaces -}}
{{- $_ = set $agent "create_namespaces" .Values.agent.createNamespaces -}}
{{- $_ = set $agent "max_concurrent_jobs" (int .Values.agent.maxConcurrentJobs) -}}
{{- $_ = set $config "agent" $agent -}}
{{- $_ = set $config "host" "0.0.0.0" -}}
{{- $_ = set $config "data_dir" "/var/lib/kjs" -}}
{{- $logging := get $config "logging" | default dict -}}
{{- $_ = set $logging "format" .Values.logging.format -}}
{{- $_ = set $logging "level" .Values.logging.level -}}
{{- $_ = set $config "logging" $logging -}}
{{- toToml $config -}}
{{- end -}}

{{/* Pod security: non-root, read-only root filesystem, no privileges. */}}
{{- define "kjs.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "kjs.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "kjs.secretEnv" -}}
{{- with .Values.secrets.mysql }}
- name: KJS_MYSQL__URL
  valueFrom: {secretKeyRef: {name: {{ . | quote }}, key: url}}
{{- end }}
{{- with .Values.secrets.webhooks }}
- name: KJS_WEBHOOKS__SECRET
  valueFrom: {secretKeyRef: {name: {{ . | quote }}, key: secret}}
{{- end }}
{{- with include "kjs.authTokensSecret" . }}
- name: KJS_AUTH__TOKENS
  valueFrom: {secretKeyRef: {name: {{ . | quote }}, key: tokens}}
{{- end }}
{{- end -}}

{{/* Whether the chart makes the server's admin token: a server that checks tokens, and none
given in secrets.authTokens. */}}
{{- define "kjs.generatesAdminToken" -}}
{{- /* Tokens given in config.auth.tokens are the user's too: a generated Secret's
KJS_AUTH__TOKENS would override them. */ -}}
{{- if and .Values.server.enabled (not .Values.server.insecure) (not .Values.secrets.authTokens) (not (dig "auth" "tokens" nil (.Values.config | default dict))) -}}
true
{{- end -}}
{{- end -}}

{{- define "kjs.adminTokenSecret" -}}
{{- printf "%s-admin-token" (include "kjs.fullname" .) -}}
{{- end -}}

{{/* The Secret whose key `tokens` is `[auth] tokens`: the user's, else the generated one. */}}
{{- define "kjs.authTokensSecret" -}}
{{- if .Values.secrets.authTokens -}}
{{- .Values.secrets.authTokens -}}
{{- else if include "kjs.generatesAdminToken" . -}}
{{- include "kjs.adminTokenSecret" . -}}
{{- end -}}
{{- end -}}

{{/* The agent's rules where it runs jobs (see agent-rbac.yaml). Its pod reads are granted
everywhere instead when it is limited to namespaces and reads every namespace's pods. */}}
{{- define "kjs.agentJobRules" -}}
- apiGroups: [batch]
  resources: [jobs]
  verbs: [create, list, watch, delete]
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [create, patch, delete]
{{- if not (and .Values.agent.namespaces .Values.agent.readAllPods) }}
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
{{- end }}
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
{{- end -}}
