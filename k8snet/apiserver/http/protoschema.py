"""Field numbers of the Kubernetes protobuf messages kubectl's typed clients send.

kubectl's generated clients (``kubectl create deployment|namespace|service|
configmap|secret|job|cronjob|role|...``) POST ``application/vnd.kubernetes.protobuf``;
``protobuf.decode`` turns such a body into the JSON object.  Each entry is
``<package>.<Message> <number> <jsonName> <type>;...`` where type is ``s`` string,
``i`` integer, ``b`` bool, ``y`` bytes, ``d`` double, ``m:<Message>`` a message,
``M<type>`` a map from string, ``r<type>`` repeated, ``e:<Message>`` a Go struct
embedded in its parent (``json:",inline"``: its fields are the parent's in JSON).
Indented lines continue the entry above.  Only the messages reachable from the
kinds those commands create, less cloud volume sources, status and alpha fields
(the decoder skips unknown fields).  EphemeralContainerCommon has Container's
fields under Container's numbers, so it is written as Container.  The embedded
fields are those k8s.io/api ``types.go`` declares without a name: Volume's
VolumeSource, Probe's ProbeHandler, IngressRule's IngressRuleValue,
EphemeralContainer's EphemeralContainerCommon, the LocalObjectReference of the
ConfigMap/Secret volume sources, projections, env sources and key selectors, and
runtime.Unknown's TypeMeta.  This is data about the wire format, written out
from the field numbers the Kubernetes API publishes (k8s.io/api and
k8s.io/apimachinery ``generated.proto``); see https://kubernetes.io/docs/reference/using-api/api-concepts/
#protobuf-encoding
"""

SCHEMA = """\
core.v1.Namespace 1 metadata m:meta.v1.ObjectMeta;2 spec m:core.v1.NamespaceSpec
core.v1.Service 1 metadata m:meta.v1.ObjectMeta;2 spec m:core.v1.ServiceSpec
core.v1.ConfigMap 1 metadata m:meta.v1.ObjectMeta;4 immutable b;2 data Ms;3 binaryData My
core.v1.Secret 1 metadata m:meta.v1.ObjectMeta;5 immutable b;2 data My;4 stringData Ms;3 type s
core.v1.ServiceAccount 1 metadata m:meta.v1.ObjectMeta;2 secrets rm:core.v1.ObjectReference;3
  imagePullSecrets rm:core.v1.LocalObjectReference;4 automountServiceAccountToken b
core.v1.Pod 1 metadata m:meta.v1.ObjectMeta;2 spec m:core.v1.PodSpec
apps.v1.Deployment 1 metadata m:meta.v1.ObjectMeta;2 spec m:apps.v1.DeploymentSpec
batch.v1.Job 1 metadata m:meta.v1.ObjectMeta;2 spec m:batch.v1.JobSpec
batch.v1.CronJob 1 metadata m:meta.v1.ObjectMeta;2 spec m:batch.v1.CronJobSpec
networking.v1.Ingress 1 metadata m:meta.v1.ObjectMeta;2 spec m:networking.v1.IngressSpec
rbac.v1.Role 1 metadata m:meta.v1.ObjectMeta;2 rules rm:rbac.v1.PolicyRule
rbac.v1.RoleBinding 1 metadata m:meta.v1.ObjectMeta;2 subjects rm:rbac.v1.Subject;3 roleRef
  m:rbac.v1.RoleRef
rbac.v1.ClusterRole 1 metadata m:meta.v1.ObjectMeta;2 rules rm:rbac.v1.PolicyRule;3
  aggregationRule m:rbac.v1.AggregationRule
rbac.v1.ClusterRoleBinding 1 metadata m:meta.v1.ObjectMeta;2 subjects rm:rbac.v1.Subject;3
  roleRef m:rbac.v1.RoleRef
policy.v1.PodDisruptionBudget 1 metadata m:meta.v1.ObjectMeta;2 spec
  m:policy.v1.PodDisruptionBudgetSpec
scheduling.v1.PriorityClass 1 metadata m:meta.v1.ObjectMeta;2 value i;3 globalDefault b;4
  description s;5 preemptionPolicy s
core.v1.ResourceQuota 1 metadata m:meta.v1.ObjectMeta;2 spec m:core.v1.ResourceQuotaSpec
runtime.Unknown 1 typeMeta e:runtime.TypeMeta;2 raw y;3 contentEncoding s;4 contentType s
meta.v1.DeleteOptions 1 gracePeriodSeconds i;2 preconditions m:meta.v1.Preconditions;3
  orphanDependents b;4 propagationPolicy s;5 dryRun rs;6
  ignoreStoreReadErrorWithClusterBreakingPotential b
meta.v1.ObjectMeta 1 name s;2 generateName s;3 namespace s;4 selfLink s;5 uid s;6
  resourceVersion s;7 generation i;8 creationTimestamp m:meta.v1.Time;9 deletionTimestamp
  m:meta.v1.Time;10 deletionGracePeriodSeconds i;11 labels Ms;12 annotations Ms;13
  ownerReferences rm:meta.v1.OwnerReference;14 finalizers rs
core.v1.NamespaceSpec 1 finalizers rs
core.v1.ServiceSpec 1 ports rm:core.v1.ServicePort;2 selector Ms;3 clusterIP s;18 clusterIPs
  rs;4 type s;5 externalIPs rs;7 sessionAffinity s;8 loadBalancerIP s;9 loadBalancerSourceRanges
  rs;10 externalName s;11 externalTrafficPolicy s;12 healthCheckNodePort i;13
  publishNotReadyAddresses b;14 sessionAffinityConfig m:core.v1.SessionAffinityConfig;19
  ipFamilies rs;17 ipFamilyPolicy s;20 allocateLoadBalancerNodePorts b;21 loadBalancerClass s;22
  internalTrafficPolicy s;23 trafficDistribution s
core.v1.ObjectReference 1 kind s;2 namespace s;3 name s;4 uid s;5 apiVersion s;6 resourceVersion
  s;7 fieldPath s
core.v1.LocalObjectReference 1 name s
core.v1.PodSpec 1 volumes rm:core.v1.Volume;20 initContainers rm:core.v1.Container;2 containers
  rm:core.v1.Container;34 ephemeralContainers rm:core.v1.EphemeralContainer;3 restartPolicy
  s;4 terminationGracePeriodSeconds i;5
  activeDeadlineSeconds i;6 dnsPolicy s;7 nodeSelector Ms;8 serviceAccountName s;9
  serviceAccount s;21 automountServiceAccountToken b;10 nodeName s;11 hostNetwork b;12 hostPID
  b;13 hostIPC b;27 shareProcessNamespace b;14 securityContext m:core.v1.PodSecurityContext;15
  imagePullSecrets rm:core.v1.LocalObjectReference;16 hostname s;17 subdomain s;18 affinity
  m:core.v1.Affinity;19 schedulerName s;22 tolerations rm:core.v1.Toleration;23 hostAliases
  rm:core.v1.HostAlias;24 priorityClassName s;25 priority i;26 dnsConfig
  m:core.v1.PodDNSConfig;28 readinessGates rm:core.v1.PodReadinessGate;29 runtimeClassName s;30
  enableServiceLinks b;31 preemptionPolicy s;32 overhead Mm:resource.Quantity;33
  topologySpreadConstraints rm:core.v1.TopologySpreadConstraint;35 setHostnameAsFQDN b;36 os
  m:core.v1.PodOS;37 hostUsers b;40 resources m:core.v1.ResourceRequirements;41 hostnameOverride
  s;44 evictionResponders rm:core.v1.EvictionResponder
apps.v1.DeploymentSpec 1 replicas i;2 selector m:meta.v1.LabelSelector;3 template
  m:core.v1.PodTemplateSpec;4 strategy m:apps.v1.DeploymentStrategy;5 minReadySeconds i;6
  revisionHistoryLimit i;7 paused b;9 progressDeadlineSeconds i
batch.v1.JobSpec 1 parallelism i;2 completions i;3 activeDeadlineSeconds i;7 backoffLimit i;12
  backoffLimitPerIndex i;13 maxFailedIndexes i;4 selector m:meta.v1.LabelSelector;5
  manualSelector b;6 template m:core.v1.PodTemplateSpec;8 ttlSecondsAfterFinished i;9
  completionMode s;10 suspend b;14 podReplacementPolicy s;15 managedBy s;17 scheduling
  m:batch.v1.JobSchedulingConfiguration
batch.v1.CronJobSpec 1 schedule s;8 timeZone s;2 startingDeadlineSeconds i;3 concurrencyPolicy
  s;4 suspend b;5 jobTemplate m:batch.v1.JobTemplateSpec;6 successfulJobsHistoryLimit i;7
  failedJobsHistoryLimit i
networking.v1.IngressSpec 4 ingressClassName s;1 defaultBackend m:networking.v1.IngressBackend;2
  tls rm:networking.v1.IngressTLS;3 rules rm:networking.v1.IngressRule
rbac.v1.PolicyRule 1 verbs rs;2 apiGroups rs;3 resources rs;4 resourceNames rs;5 nonResourceURLs
  rs
rbac.v1.Subject 1 kind s;2 apiGroup s;3 name s;4 namespace s
rbac.v1.RoleRef 1 apiGroup s;2 kind s;3 name s
rbac.v1.AggregationRule 1 clusterRoleSelectors rm:meta.v1.LabelSelector
policy.v1.PodDisruptionBudgetSpec 1 minAvailable m:intstr.IntOrString;2 selector
  m:meta.v1.LabelSelector;3 maxUnavailable m:intstr.IntOrString;4 unhealthyPodEvictionPolicy s
core.v1.ResourceQuotaSpec 1 hard Mm:resource.Quantity;2 scopes rs;3 scopeSelector
  m:core.v1.ScopeSelector
authorization.v1.SelfSubjectAccessReview 1 metadata m:meta.v1.ObjectMeta;2 spec
  m:authorization.v1.SelfSubjectAccessReviewSpec
authorization.v1.SelfSubjectAccessReviewSpec 1 resourceAttributes
  m:authorization.v1.ResourceAttributes;2 nonResourceAttributes
  m:authorization.v1.NonResourceAttributes
authorization.v1.ResourceAttributes 1 namespace s;2 verb s;3 group s;4 version s;5 resource s;6
  subresource s;7 name s
authorization.v1.NonResourceAttributes 1 path s;2 verb s
authorization.v1.SelfSubjectRulesReview 1 metadata m:meta.v1.ObjectMeta;2 spec
  m:authorization.v1.SelfSubjectRulesReviewSpec
authorization.v1.SelfSubjectRulesReviewSpec 1 namespace s
authentication.v1.SelfSubjectReview 1 metadata m:meta.v1.ObjectMeta
runtime.TypeMeta 1 apiVersion s;2 kind s
meta.v1.Preconditions 1 uid s;2 resourceVersion s
meta.v1.Time 1 seconds i;2 nanos i
meta.v1.OwnerReference 5 apiVersion s;1 kind s;3 name s;4 uid s;6 controller b;7
  blockOwnerDeletion b
core.v1.ServicePort 1 name s;2 protocol s;6 appProtocol s;3 port i;4 targetPort
  m:intstr.IntOrString;5 nodePort i
core.v1.SessionAffinityConfig 1 clientIP m:core.v1.ClientIPConfig
core.v1.Volume 1 name s;2 volumeSource e:core.v1.VolumeSource
core.v1.Container 1 name s;2 image s;3 command rs;4 args rs;5 workingDir s;6 ports
  rm:core.v1.ContainerPort;19 envFrom rm:core.v1.EnvFromSource;7 env rm:core.v1.EnvVar;8
  resources m:core.v1.ResourceRequirements;24 restartPolicy s;25 restartPolicyRules
  rm:core.v1.ContainerRestartRule;9 volumeMounts rm:core.v1.VolumeMount;21 volumeDevices
  rm:core.v1.VolumeDevice;10 livenessProbe m:core.v1.Probe;11 readinessProbe m:core.v1.Probe;22
  startupProbe m:core.v1.Probe;12 lifecycle m:core.v1.Lifecycle;13 terminationMessagePath s;20
  terminationMessagePolicy s;14 imagePullPolicy s;15 securityContext
  m:core.v1.SecurityContext;16 stdin b;17 stdinOnce b;18 tty b
core.v1.EphemeralContainer 1 ephemeralContainerCommon e:core.v1.Container;2 targetContainerName s
core.v1.PodSecurityContext 1 seLinuxOptions m:core.v1.SELinuxOptions;8 windowsOptions
  m:core.v1.WindowsSecurityContextOptions;2 runAsUser i;6 runAsGroup i;3 runAsNonRoot b;4
  supplementalGroups ri;12 supplementalGroupsPolicy s;5 fsGroup i;7 sysctls rm:core.v1.Sysctl;9
  fsGroupChangePolicy s;10 seccompProfile m:core.v1.SeccompProfile;11 appArmorProfile
  m:core.v1.AppArmorProfile;13 seLinuxChangePolicy s
core.v1.Affinity 1 nodeAffinity m:core.v1.NodeAffinity;2 podAffinity m:core.v1.PodAffinity;3
  podAntiAffinity m:core.v1.PodAntiAffinity
core.v1.Toleration 1 key s;2 operator s;3 value s;4 effect s;5 tolerationSeconds i
core.v1.HostAlias 1 ip s;2 hostnames rs
core.v1.PodDNSConfig 1 nameservers rs;2 searches rs;3 options rm:core.v1.PodDNSConfigOption
core.v1.PodReadinessGate 1 conditionType s
resource.Quantity 1 string s
core.v1.TopologySpreadConstraint 1 maxSkew i;2 topologyKey s;3 whenUnsatisfiable s;4
  labelSelector m:meta.v1.LabelSelector;5 minDomains i;6 nodeAffinityPolicy s;7 nodeTaintsPolicy
  s;8 matchLabelKeys rs
core.v1.PodOS 1 name s
core.v1.ResourceRequirements 1 limits Mm:resource.Quantity;2 requests Mm:resource.Quantity
core.v1.EvictionResponder 1 name s;2 priority i
meta.v1.LabelSelector 1 matchLabels Ms;2 matchExpressions rm:meta.v1.LabelSelectorRequirement
core.v1.PodTemplateSpec 1 metadata m:meta.v1.ObjectMeta;2 spec m:core.v1.PodSpec
apps.v1.DeploymentStrategy 1 type s;2 rollingUpdate m:apps.v1.RollingUpdateDeployment
batch.v1.JobSchedulingConfiguration 1 schedulingPolicy
  m:scheduling.v1alpha3.WorkloadPodGroupSchedulingPolicy;2 schedulingConstraints
  m:scheduling.v1alpha3.WorkloadPodGroupSchedulingConstraints;3 disruptionMode
  m:scheduling.v1alpha3.WorkloadPodGroupDisruptionMode
batch.v1.JobTemplateSpec 1 metadata m:meta.v1.ObjectMeta;2 spec m:batch.v1.JobSpec
networking.v1.IngressBackend 4 service m:networking.v1.IngressServiceBackend;3 resource
  m:core.v1.TypedLocalObjectReference
networking.v1.IngressTLS 1 hosts rs;2 secretName s
networking.v1.IngressRule 1 host s;2 ingressRuleValue e:networking.v1.IngressRuleValue
intstr.IntOrString 1 type i;2 intVal i;3 strVal s
core.v1.ScopeSelector 1 matchExpressions rm:core.v1.ScopedResourceSelectorRequirement
core.v1.ClientIPConfig 1 timeoutSeconds i
core.v1.VolumeSource 1 hostPath m:core.v1.HostPathVolumeSource;2 emptyDir
  m:core.v1.EmptyDirVolumeSource;6 secret m:core.v1.SecretVolumeSource;10 persistentVolumeClaim
  m:core.v1.PersistentVolumeClaimVolumeSource;16 downwardAPI
  m:core.v1.DownwardAPIVolumeSource;19 configMap m:core.v1.ConfigMapVolumeSource;26 projected
  m:core.v1.ProjectedVolumeSource
core.v1.ContainerPort 1 name s;2 hostPort i;3 containerPort i;4 protocol s;5 hostIP s
core.v1.EnvFromSource 1 prefix s;2 configMapRef m:core.v1.ConfigMapEnvSource;3 secretRef
  m:core.v1.SecretEnvSource
core.v1.EnvVar 1 name s;2 value s;3 valueFrom m:core.v1.EnvVarSource
core.v1.ContainerRestartRule 1 action s;2 exitCodes m:core.v1.ContainerRestartRuleOnExitCodes
core.v1.VolumeMount 1 name s;2 readOnly b;7 recursiveReadOnly s;3 mountPath s;4 subPath s;5
  mountPropagation s;6 subPathExpr s;8 bindMountOptions rs
core.v1.VolumeDevice 1 name s;2 devicePath s
core.v1.Probe 1 handler e:core.v1.ProbeHandler;2 initialDelaySeconds i;3 timeoutSeconds i;4
  periodSeconds i;5 successThreshold i;6 failureThreshold i;7 terminationGracePeriodSeconds i
core.v1.Lifecycle 1 postStart m:core.v1.LifecycleHandler;2 preStop m:core.v1.LifecycleHandler;3
  stopSignal s
core.v1.SecurityContext 1 capabilities m:core.v1.Capabilities;2 privileged b;3 seLinuxOptions
  m:core.v1.SELinuxOptions;10 windowsOptions m:core.v1.WindowsSecurityContextOptions;4 runAsUser
  i;8 runAsGroup i;5 runAsNonRoot b;6 readOnlyRootFilesystem b;7 allowPrivilegeEscalation b;9
  procMount s;11 seccompProfile m:core.v1.SeccompProfile;12 appArmorProfile
  m:core.v1.AppArmorProfile
core.v1.SELinuxOptions 1 user s;2 role s;3 type s;4 level s
core.v1.WindowsSecurityContextOptions 1 gmsaCredentialSpecName s;2 gmsaCredentialSpec s;3
  runAsUserName s;4 hostProcess b
core.v1.Sysctl 1 name s;2 value s
core.v1.SeccompProfile 1 type s;2 localhostProfile s
core.v1.AppArmorProfile 1 type s;2 localhostProfile s
core.v1.NodeAffinity 1 requiredDuringSchedulingIgnoredDuringExecution m:core.v1.NodeSelector;2
  preferredDuringSchedulingIgnoredDuringExecution rm:core.v1.PreferredSchedulingTerm
core.v1.PodAffinity 1 requiredDuringSchedulingIgnoredDuringExecution
  rm:core.v1.PodAffinityTerm;2 preferredDuringSchedulingIgnoredDuringExecution
  rm:core.v1.WeightedPodAffinityTerm
core.v1.PodAntiAffinity 1 requiredDuringSchedulingIgnoredDuringExecution
  rm:core.v1.PodAffinityTerm;2 preferredDuringSchedulingIgnoredDuringExecution
  rm:core.v1.WeightedPodAffinityTerm
core.v1.PodDNSConfigOption 1 name s;2 value s
meta.v1.LabelSelectorRequirement 1 key s;2 operator s;3 values rs
apps.v1.RollingUpdateDeployment 1 maxUnavailable m:intstr.IntOrString;2 maxSurge
  m:intstr.IntOrString
networking.v1.IngressServiceBackend 1 name s;2 port m:networking.v1.ServiceBackendPort
core.v1.TypedLocalObjectReference 1 apiGroup s;2 kind s;3 name s
networking.v1.IngressRuleValue 1 http m:networking.v1.HTTPIngressRuleValue
core.v1.ScopedResourceSelectorRequirement 1 scopeName s;2 operator s;3 values rs
core.v1.HostPathVolumeSource 1 path s;2 type s
core.v1.EmptyDirVolumeSource 1 medium s;2 sizeLimit m:resource.Quantity;3 mode i
core.v1.SecretVolumeSource 1 secretName s;2 items rm:core.v1.KeyToPath;3 defaultMode i;4
  optional b;5 defaultUser i
core.v1.PersistentVolumeClaimVolumeSource 1 claimName s;2 readOnly b
core.v1.DownwardAPIVolumeSource 1 items rm:core.v1.DownwardAPIVolumeFile;2 defaultMode i;3
  defaultUser i
core.v1.ConfigMapVolumeSource 1 localObjectReference e:core.v1.LocalObjectReference;2 items
  rm:core.v1.KeyToPath;3 defaultMode i;4 optional b;5 defaultUser i
core.v1.ProjectedVolumeSource 1 sources rm:core.v1.VolumeProjection;2 defaultMode i;3
  defaultUser i
core.v1.ConfigMapEnvSource 1 localObjectReference e:core.v1.LocalObjectReference;2 optional b
core.v1.SecretEnvSource 1 localObjectReference e:core.v1.LocalObjectReference;2 optional b
core.v1.EnvVarSource 1 fieldRef m:core.v1.ObjectFieldSelector;2 resourceFieldRef
  m:core.v1.ResourceFieldSelector;3 configMapKeyRef m:core.v1.ConfigMapKeySelector;4
  secretKeyRef m:core.v1.SecretKeySelector;5 fileKeyRef m:core.v1.FileKeySelector
core.v1.ContainerRestartRuleOnExitCodes 1 operator s;2 values ri
core.v1.ProbeHandler 1 exec m:core.v1.ExecAction;2 httpGet m:core.v1.HTTPGetAction;3 tcpSocket
  m:core.v1.TCPSocketAction;4 grpc m:core.v1.GRPCAction
core.v1.LifecycleHandler 1 exec m:core.v1.ExecAction;2 httpGet m:core.v1.HTTPGetAction;3
  tcpSocket m:core.v1.TCPSocketAction;4 sleep m:core.v1.SleepAction
core.v1.Capabilities 1 add rs;2 drop rs
core.v1.NodeSelector 1 nodeSelectorTerms rm:core.v1.NodeSelectorTerm
core.v1.PreferredSchedulingTerm 1 weight i;2 preference m:core.v1.NodeSelectorTerm
core.v1.PodAffinityTerm 1 labelSelector m:meta.v1.LabelSelector;2 namespaces rs;3 topologyKey
  s;4 namespaceSelector m:meta.v1.LabelSelector;5 matchLabelKeys rs;6 mismatchLabelKeys rs
core.v1.WeightedPodAffinityTerm 1 weight i;2 podAffinityTerm m:core.v1.PodAffinityTerm
networking.v1.ServiceBackendPort 1 name s;2 number i
networking.v1.HTTPIngressRuleValue 1 paths rm:networking.v1.HTTPIngressPath
core.v1.KeyToPath 1 key s;2 path s;3 mode i;4 user i
core.v1.DownwardAPIVolumeFile 1 path s;2 fieldRef m:core.v1.ObjectFieldSelector;3
  resourceFieldRef m:core.v1.ResourceFieldSelector;4 mode i;5 user i
core.v1.VolumeProjection 1 secret m:core.v1.SecretProjection;2 downwardAPI
  m:core.v1.DownwardAPIProjection;3 configMap m:core.v1.ConfigMapProjection;4
  serviceAccountToken m:core.v1.ServiceAccountTokenProjection
core.v1.ObjectFieldSelector 1 apiVersion s;2 fieldPath s
core.v1.ResourceFieldSelector 1 containerName s;2 resource s;3 divisor m:resource.Quantity
core.v1.ConfigMapKeySelector 1 localObjectReference e:core.v1.LocalObjectReference;2 key s;3
  optional b
core.v1.SecretKeySelector 1 localObjectReference e:core.v1.LocalObjectReference;2 key s;3
  optional b
core.v1.FileKeySelector 1 volumeName s;2 path s;3 key s;4 optional b
core.v1.ExecAction 1 command rs
core.v1.HTTPGetAction 1 path s;2 port m:intstr.IntOrString;3 host s;4 scheme s;5 httpHeaders
  rm:core.v1.HTTPHeader;6 protocol s
core.v1.TCPSocketAction 1 port m:intstr.IntOrString;2 host s
core.v1.GRPCAction 1 port i;2 service s;3 mode s
core.v1.SleepAction 1 seconds i
core.v1.NodeSelectorTerm 1 matchExpressions rm:core.v1.NodeSelectorRequirement;2 matchFields
  rm:core.v1.NodeSelectorRequirement
networking.v1.HTTPIngressPath 1 path s;3 pathType s;2 backend m:networking.v1.IngressBackend
core.v1.SecretProjection 1 localObjectReference e:core.v1.LocalObjectReference;2 items
  rm:core.v1.KeyToPath;4 optional b
core.v1.DownwardAPIProjection 1 items rm:core.v1.DownwardAPIVolumeFile
core.v1.ConfigMapProjection 1 localObjectReference e:core.v1.LocalObjectReference;2 items
  rm:core.v1.KeyToPath;4 optional b
core.v1.ServiceAccountTokenProjection 1 audience s;2 expirationSeconds i;3 path s;4 user i
core.v1.HTTPHeader 1 name s;2 value s
core.v1.NodeSelectorRequirement 1 key s;2 operator s;3 values rs
"""
