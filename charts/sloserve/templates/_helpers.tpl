{{/*
The chart name, truncated to 63 characters (a label value's limit).
*/}}
{{- define "sloserve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: the release name, with the chart name appended unless the release
name already contains it. Truncated to 54 characters so that "-operator" and "-gateway" still fit
in 63.
*/}}
{{- define "sloserve.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 54 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "sloserve.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "sloserve.labels" -}}
helm.sh/chart: {{ include "sloserve.chart" . }}
{{ include "sloserve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sloserve
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels that select this release's pods. They never change between upgrades, since a Deployment's
selector is immutable.
*/}}
{{- define "sloserve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sloserve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component's resources; call with (dict "context" $ "component" "gateway").
*/}}
{{- define "sloserve.componentLabels" -}}
{{ include "sloserve.labels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Selector labels of one component's pods; call with (dict "context" $ "component" "gateway").
*/}}
{{- define "sloserve.componentSelectorLabels" -}}
{{ include "sloserve.selectorLabels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Name of a component's resources: "<fullname>-<component>".
*/}}
{{- define "sloserve.componentName" -}}
{{- printf "%s-%s" (include "sloserve.fullname" .context) .component }}
{{- end }}

{{/*
The sloserve image reference: repository@digest when a digest is set, else repository:tag, the tag
defaulting to the chart's appVersion.
*/}}
{{- define "sloserve.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
ServiceAccount names.
*/}}
{{- define "sloserve.operator.serviceAccountName" -}}
{{- default (include "sloserve.componentName" (dict "context" . "component" "operator")) .Values.operator.serviceAccount.name }}
{{- end }}

{{- define "sloserve.gateway.serviceAccountName" -}}
{{- default (include "sloserve.componentName" (dict "context" . "component" "gateway")) .Values.gateway.serviceAccount.name }}
{{- end }}

{{/*
The Secret holding the gateway's tenants file.
*/}}
{{- define "sloserve.gateway.tenantsSecretName" -}}
{{- default (printf "%s-tenants" (include "sloserve.componentName" (dict "context" . "component" "gateway"))) .Values.gateway.tenants.existingSecret }}
{{- end }}

{{/*
The headless Service that names every gateway pod, ready or not (the operator's direct scrapes).
*/}}
{{- define "sloserve.gateway.podsServiceName" -}}
{{- include "sloserve.componentName" (dict "context" . "component" "gateway-pods") }}
{{- end }}

{{/*
Where the tenants Secret is mounted in the gateway container.
*/}}
{{- define "sloserve.gateway.tenantsDir" -}}
/var/run/secrets/sloserve.io/tenants
{{- end }}

{{/*
The POD_IP variable, first in a container's env so that later values (listenAddress) may refer
to it as $(POD_IP).
*/}}
{{- define "sloserve.podIPEnv" -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- end }}

{{/*
Pull secrets of a pod spec.
*/}}
{{- define "sloserve.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
What the gateway may do: list and watch ModelServices (models and their classes) and the
EndpointSlices of their engine Services (which engines are ready). Nothing else: it never reads
Secrets (its tenants file is mounted) and never writes.
*/}}
{{- define "sloserve.gateway.rules" -}}
- apiGroups: ["sloserve.io"]
  resources: ["modelservices"]
  verbs: ["list", "watch"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["list", "watch"]
{{- if .Values.gateway.tokenizers.readConfigMaps }}
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get"]
{{- end }}
{{- end }}

{{/*
The Lease the operator replicas elect their leader with, in the release namespace.
*/}}
{{- define "sloserve.operator.leaseName" -}}
{{- include "sloserve.componentName" (dict "context" . "component" "operator") }}
{{- end }}

{{/*
The sloserve scheduler's KubeSchedulerConfiguration, as YAML. It mirrors
sloserve.placement.scheduler_config.kube_scheduler_configuration for an in-pod scheduler (no
kubeconfig, leader election under a Lease named for the scheduler in the release namespace, the
extender on the pod's loopback address); a chart test compares the two, so they cannot drift.
*/}}
{{- define "sloserve.placement.schedulerConfig" -}}
{{- $placement := .Values.placement }}
{{- $extender := dict
  "urlPrefix" (printf "http://127.0.0.1:%d" (int $placement.extender.port))
  "filterVerb" "filter"
  "prioritizeVerb" "prioritize"
  "weight" (int $placement.scheduler.extenderWeight)
  "enableHTTPS" false
  "nodeCacheCapable" false
  "httpTimeout" "5s"
  "ignorable" false
}}
{{- $config := dict
  "apiVersion" "kubescheduler.config.k8s.io/v1"
  "kind" "KubeSchedulerConfiguration"
  "clientConnection" (dict)
  "leaderElection" (dict "leaderElect" true "resourceName" $placement.schedulerName "resourceNamespace" .Release.Namespace)
  "profiles" (list (dict "schedulerName" $placement.schedulerName))
  "extenders" (list $extender)
}}
{{- toYaml $config }}
{{- end }}

{{/*
The kube-scheduler image reference: repository@digest when a digest is set, else repository:tag.
*/}}
{{- define "sloserve.placement.schedulerImage" -}}
{{- $image := .Values.placement.scheduler.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository $image.tag }}
{{- end }}
{{- end }}
