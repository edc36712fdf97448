{{/* Names and labels. */}}
{{- define "uniprof.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "uniprof.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "uniprof.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "uniprof.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "uniprof.selectorLabels" -}}
app.kubernetes.io/name: {{ include "uniprof.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component: include with (dict "root" $ "component" "collector"). */}}
{{- define "uniprof.componentLabels" -}}
{{ include "uniprof.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "uniprof.componentSelectorLabels" -}}
{{ include "uniprof.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "uniprof.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "uniprof.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "uniprof.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Modes and what they allow; a contradiction fails the render with a message saying what to change. */}}
{{- define "uniprof.embedded" -}}
{{- if eq .Values.mode "embedded" }}true{{ end }}
{{- end }}

{{- define "uniprof.validate" -}}
{{- with .Values.readerAuth }}
{{- if and .existingSecret (or .readToken .users) }}
{{- fail "readerAuth.readToken and readerAuth.users go into the chart's Secret: with readerAuth.existingSecret put them in that Secret (keys readerAuth.readTokenKey, readerAuth.usersKey)" }}
{{- end }}
{{- if and .enabled (not .existingSecret) (not $.Values.auth.existingSecret) (has .readTokenKey (list $.Values.auth.agentTokenKey $.Values.auth.symbolUploadTokenKey)) }}
{{- fail (printf "readerAuth.readTokenKey %q is also a key of the agents' or the symbol-upload token in the same Secret: give it a key of its own" .readTokenKey) }}
{{- end }}
{{- if and .enabled .readToken (has .readToken (list $.Values.auth.agentToken $.Values.auth.symbolUploadToken)) }}
{{- fail "readerAuth.readToken equals the agents' or the symbol-upload token: give readers a token of their own (one secret, one scope)" }}
{{- end }}
{{- end }}
{{- if eq .Values.mode "embedded" }}
{{- if .Values.collector.autoscaling.enabled }}
{{- fail "collector.autoscaling.enabled needs mode: elasticsearch (the embedded DuckDB store can be open in one process only, so embedded mode runs exactly one pod)" }}
{{- end }}
{{- else }}
{{- if not .Values.elasticsearch.hosts }}
{{- fail "mode: elasticsearch needs elasticsearch.hosts (e.g. [https://es-http:9200])" }}
{{- end }}
{{- if and .Values.elasticsearch.tls.caSecret.name .Values.elasticsearch.tls.caConfigMap.name }}
{{- fail "set one of elasticsearch.tls.caSecret.name and elasticsearch.tls.caConfigMap.name, not both" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Secret the tokens are read from. */}}
{{- define "uniprof.tokenSecretName" -}}
{{- default (printf "%s-tokens" (include "uniprof.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{/* The Secret the read token(s) and users are read from: one of yours, else the chart's token Secret. */}}
{{- define "uniprof.readerSecretName" -}}
{{- default (printf "%s-tokens" (include "uniprof.fullname" .)) .Values.readerAuth.existingSecret }}
{{- end }}

{{/* Whether the chart's token Secret exists: it holds what no Secret of yours does. */}}
{{- define "uniprof.chartSecretNeeded" -}}
{{- if or (not .Values.auth.existingSecret) (and .Values.readerAuth.enabled (not .Values.readerAuth.existingSecret)) }}true{{ end }}
{{- end }}

{{/* The Secret the Elasticsearch credentials are read from; empty when there are none. */}}
{{- define "uniprof.elasticsearchSecretName" -}}
{{- $auth := .Values.elasticsearch.auth }}
{{- if $auth.existingSecret }}
{{- $auth.existingSecret }}
{{- else if or $auth.apiKey $auth.username }}
{{- printf "%s-elasticsearch" (include "uniprof.fullname" .) }}
{{- end }}
{{- end }}

{{- define "uniprof.elasticsearchCaMounted" -}}
{{- if or .Values.elasticsearch.tls.caSecret.name .Values.elasticsearch.tls.caConfigMap.name }}true{{ end }}
{{- end }}

{{/*
The configuration file. The chart's own settings are merged over .Values.config: the data directory, listen
addresses and ports must match the volumes, probes and Services, and secrets come from the environment.
*/}}
{{- define "uniprof.config" -}}
{{- $v := .Values }}
{{- $own := dict
  "dataDir" "/data"
  "log" (dict "level" $v.logLevel)
  "collector" (dict
    "grpc" (dict "host" $v.listenHost "port" (int $v.ports.grpc))
    "http" (dict "host" $v.listenHost "port" (int $v.ports.http))
    "auth" (dict "disabled" $v.auth.disabled))
  "api" (dict
    "http" (dict "host" $v.listenHost "port" (int $v.ports.api))
    "auth" (dict "disabled" (not $v.readerAuth.enabled)))
  "symbolizer" (dict
    "enabled" $v.symbolizer.enabled
    "http" (dict "host" $v.listenHost "port" (int $v.ports.symbolizer)))
}}
{{- if include "uniprof.embedded" . }}
{{- $_ := set $own "output" (dict "type" "embedded") }}
{{- else }}
{{- $tls := dict "verify" $v.elasticsearch.tls.verify }}
{{- if include "uniprof.elasticsearchCaMounted" . }}
{{- $_ := set $tls "ca" "/etc/uniprof/elasticsearch-ca/ca.crt" }}
{{- end }}
{{- $_ := set $own "output" (dict "type" "elasticsearch" "elasticsearch" (dict "hosts" $v.elasticsearch.hosts "tls" $tls)) }}
{{- end }}
{{- toYaml (mustMergeOverwrite (deepCopy $v.config) $own) }}
{{- end }}

{{/* Environment shared by every container: the configuration file and the store's credentials. */}}
{{- define "uniprof.commonEnv" -}}
- name: UNIPROF_CONFIG
  value: /etc/uniprof/config/config.yaml
{{- if not (include "uniprof.embedded" .) }}
{{- $secret := include "uniprof.elasticsearchSecretName" . }}
{{- $auth := .Values.elasticsearch.auth }}
{{- if and $secret (or $auth.existingSecret $auth.apiKey) }}
- name: UNIPROF_OUTPUT_ELASTICSEARCH_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $auth.apiKeyKey }}
      optional: {{ ternary "true" "false" (empty $auth.apiKey) }}
{{- end }}
{{- if and $secret (or $auth.existingSecret $auth.username) }}
- name: UNIPROF_OUTPUT_ELASTICSEARCH_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $auth.usernameKey }}
      optional: {{ ternary "true" "false" (empty $auth.username) }}
- name: UNIPROF_OUTPUT_ELASTICSEARCH_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $auth.passwordKey }}
      optional: {{ ternary "true" "false" (empty $auth.username) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "uniprof.agentTokenEnv" -}}
{{- if not .Values.auth.disabled -}}
- name: UNIPROF_COLLECTOR_AUTH_SECRET_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "uniprof.tokenSecretName" . }}
      key: {{ .Values.auth.agentTokenKey }}
{{- end }}
{{- end }}

{{/*
Reader credentials for the web UI and query API, on the pods that serve them (the collectors). The read token
is always given, so every replica accepts the same one; users only when some are configured (or may be, in a
Secret of yours), otherwise each pod generates its own admin password.
*/}}
{{- define "uniprof.readerAuthEnv" -}}
{{- $r := .Values.readerAuth }}
{{- if $r.enabled -}}
- name: UNIPROF_API_AUTH_TOKENS
  valueFrom:
    secretKeyRef:
      name: {{ include "uniprof.readerSecretName" . }}
      key: {{ $r.readTokenKey }}
{{- if or $r.existingSecret $r.users }}
- name: UNIPROF_API_AUTH_USERS
  valueFrom:
    secretKeyRef:
      name: {{ include "uniprof.readerSecretName" . }}
      key: {{ $r.usersKey }}
      optional: {{ ternary "true" "false" (empty $r.users) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "uniprof.uploadTokenEnv" -}}
- name: UNIPROF_SYMBOLIZER_UPLOAD_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "uniprof.tokenSecretName" . }}
      key: {{ .Values.auth.symbolUploadTokenKey }}
{{- end }}

{{/* Volumes every pod has: the configuration, a writable /tmp, the Elasticsearch CA. */}}
{{- define "uniprof.commonVolumes" -}}
- name: config
  configMap:
    name: {{ include "uniprof.fullname" . }}-config
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- with .Values.elasticsearch.tls }}
{{- if and (not (include "uniprof.embedded" $)) .caSecret.name }}
- name: elasticsearch-ca
  secret:
    secretName: {{ .caSecret.name }}
    items:
      - key: {{ .caSecret.key }}
        path: ca.crt
{{- else if and (not (include "uniprof.embedded" $)) .caConfigMap.name }}
- name: elasticsearch-ca
  configMap:
    name: {{ .caConfigMap.name }}
    items:
      - key: {{ .caConfigMap.key }}
        path: ca.crt
{{- end }}
{{- end }}
{{- end }}

{{- define "uniprof.commonVolumeMounts" -}}
- name: config
  mountPath: /etc/uniprof/config
  readOnly: true
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- if and (not (include "uniprof.embedded" .)) (include "uniprof.elasticsearchCaMounted" .) }}
- name: elasticsearch-ca
  mountPath: /etc/uniprof/elasticsearch-ca
  readOnly: true
{{- end }}
{{- end }}

{{/* Probes on one named port: /health while the process serves, /ready while it can do its work. */}}
{{- define "uniprof.probes" -}}
{{- $p := .root.Values.probes -}}
startupProbe:
  httpGet: { path: /health, port: {{ .port }} }
  {{- toYaml $p.startup | nindent 2 }}
livenessProbe:
  httpGet: { path: /health, port: {{ .port }} }
  {{- toYaml $p.liveness | nindent 2 }}
readinessProbe:
  httpGet: { path: /ready, port: {{ .port }} }
  {{- toYaml $p.readiness | nindent 2 }}
{{- end }}

{{/*
Rolls the pods when the configuration or the secrets given as values change (environment variables from a
Secret are read only when a container starts). Generated tokens do not count: they stay the same on upgrades.
*/}}
{{- define "uniprof.checksums" -}}
checksum/config: {{ include "uniprof.config" . | sha256sum }}
checksum/secret-values: {{ toJson (list .Values.auth .Values.readerAuth .Values.elasticsearch.auth) | sha256sum }}
{{- end }}
