{{/*
Names and rules of sloserve's endpoint picker (`epp.enabled`).
*/}}
{{- define "sloserve.epp.name" -}}
{{- include "sloserve.componentName" (dict "context" . "component" "epp") }}
{{- end }}

{{- define "sloserve.epp.serviceAccountName" -}}
{{- default (include "sloserve.epp.name" .) .Values.epp.serviceAccount.name }}
{{- end }}

{{/*
The Service the operator's InferencePools name as their endpoint picker: the chart's own unless
another is given.
*/}}
{{- define "sloserve.epp.pickerService" -}}
{{- default (include "sloserve.epp.name" .) .Values.inferencePool.endpointPickerService }}
{{- end }}

{{/*
Where the picker's TLS Secret is mounted.
*/}}
{{- define "sloserve.epp.tlsDir" -}}
/var/run/secrets/sloserve.io/epp-tls
{{- end }}

{{/*
What the picker may do, in the release namespace only (an InferencePool can name only a picker
Service of its own namespace): list and watch ModelServices (models and classes), InferencePools
(which pods serve which ModelService) and pods (which are ready, at which address). It never
writes.
*/}}
{{- define "sloserve.epp.rules" -}}
- apiGroups: ["sloserve.io"]
  resources: ["modelservices"]
  verbs: ["list", "watch"]
- apiGroups: ["inference.networking.k8s.io"]
  resources: ["inferencepools"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
{{- end }}
