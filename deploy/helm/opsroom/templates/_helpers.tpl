{{- define "opsroom.name" -}}{{ .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}

{{- define "opsroom.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "opsroom.labels" -}}
app.kubernetes.io/name: {{ include "opsroom.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "opsroom.selectorLabels" -}}
app.kubernetes.io/name: {{ include "opsroom.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "opsroom.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}

{{- define "opsroom.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "opsroom.fullname" .) .Values.serviceAccount.name }}
{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{- define "opsroom.hasConfig" -}}{{ if or .Values.existingConfigMap .Values.config }}true{{ end }}{{- end -}}

{{- define "opsroom.configMapName" -}}{{ default (include "opsroom.fullname" .) .Values.existingConfigMap }}{{- end -}}

{{/* opsroom's arguments: the config file when there is one, else the bundled demo. */}}
{{- define "opsroom.configArgs" -}}
{{- if include "opsroom.hasConfig" . }}["--config", "/config/opsroom.yaml"]{{ else }}[]{{ end -}}
{{- end -}}

{{/* Environment shared by the server and the migration hook. */}}
{{- define "opsroom.env" -}}
- name: OPSROOM_HOST
  value: "0.0.0.0"
- name: OPSROOM_PORT
  value: {{ .Values.service.port | quote }}
{{- if .Values.database.existingSecret }}
- name: OPSROOM_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ .Values.database.existingSecret }}, key: {{ .Values.database.key }}}}
{{- end }}
{{- if .Values.secretKey.existingSecret }}
- name: OPSROOM_SECRET_KEY
  valueFrom: {secretKeyRef: {name: {{ .Values.secretKey.existingSecret }}, key: {{ .Values.secretKey.key }}}}
{{- end }}
{{- with .Values.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}
