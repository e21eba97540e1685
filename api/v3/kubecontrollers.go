package v3

// KubeControllersConfiguration (name "default") configures the Kubernetes
// controllers.
type KubeControllersConfiguration struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta                         `json:"metadata"`
	Spec     KubeControllersConfigurationSpec   `json:"spec"`
	Status   KubeControllersConfigurationStatus `json:"status"`
}

// KubeControllersConfigurationSpec is the body of a
// KubeControllersConfiguration.
type KubeControllersConfigurationSpec struct {
	LogSeverityScreen      string            `json:"logSeverityScreen,omitempty"`
	HealthChecks           string            `json:"healthChecks,omitempty"`
	EtcdV3CompactionPeriod *Duration         `json:"etcdV3CompactionPeriod,omitempty"`
	PrometheusMetricsPort  *int              `json:"prometheusMetricsPort,omitempty"`
	Controllers            ControllersConfig `json:"controllers"`
	DebugProfilePort       *int32            `json:"debugProfilePort,omitempty"`
}

// ControllersConfig enables and configures each controller.
type ControllersConfig struct {
	Node             *NodeControllerConfig         `json:"node,omitempty"`
	Policy           *ReconcilerConfig             `json:"policy,omitempty"`
	WorkloadEndpoint *ReconcilerConfig             `json:"workloadEndpoint,omitempty"`
	ServiceAccount   *ReconcilerConfig             `json:"serviceAccount,omitempty"`
	Namespace        *ReconcilerConfig             `json:"namespace,omitempty"`
	LoadBalancer     *LoadBalancerControllerConfig `json:"loadBalancer,omitempty"`
	Migration        *MigrationControllerConfig    `json:"policyMigration,omitempty"`
}

// ReconcilerConfig is the configuration shared by simple controllers.
type ReconcilerConfig struct {
	ReconcilerPeriod *Duration `json:"reconcilerPeriod,omitempty"`
}

// NodeControllerConfig configures the node controller.
type NodeControllerConfig struct {
	ReconcilerPeriod *Duration               `json:"reconcilerPeriod,omitempty"`
	SyncLabels       string                  `json:"syncLabels,omitempty"`
	HostEndpoint     *AutoHostEndpointConfig `json:"hostEndpoint,omitempty"`
	LeakGracePeriod  *Duration               `json:"leakGracePeriod,omitempty"`
}

// AutoHostEndpointConfig configures automatic host endpoints.
type AutoHostEndpointConfig struct {
	AutoCreate                string                     `json:"autoCreate,omitempty"`
	CreateDefaultHostEndpoint string                     `json:"createDefaultHostEndpoint,omitempty"`
	Templates                 []AutoHostEndpointTemplate `json:"templates,omitempty"`
}

// AutoHostEndpointTemplate describes extra host endpoints to create.
type AutoHostEndpointTemplate struct {
	GenerateName     string            `json:"generateName,omitempty"`
	InterfaceCIDRs   []string          `json:"interfaceCIDRs,omitempty"`
	InterfacePattern string            `json:"interfacePattern,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	NodeSelector     string            `json:"nodeSelector,omitempty"`
}

// LoadBalancerControllerConfig configures LoadBalancer IP assignment.
type LoadBalancerControllerConfig struct {
	AssignIPs string `json:"assignIPs,omitempty"`
}

// MigrationControllerConfig configures data migrations.
type MigrationControllerConfig struct {
	PolicyNameMigrator string `json:"enabled,omitempty"`
}

// KubeControllersConfigurationStatus reports the configuration in use.
type KubeControllersConfigurationStatus struct {
	RunningConfig   *KubeControllersConfigurationSpec `json:"runningConfig,omitempty"`
	EnvironmentVars map[string]string                 `json:"environmentVars,omitempty"`
}

// NewKubeControllersConfiguration returns an empty
// KubeControllersConfiguration with its type set.
func NewKubeControllersConfiguration() *KubeControllersConfiguration {
	return &KubeControllersConfiguration{TypeMeta: TypeMeta{Kind: KindKubeControllersConfiguration, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *KubeControllersConfiguration) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *KubeControllersConfiguration) DeepCopy() *KubeControllersConfiguration { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *KubeControllersConfiguration) DeepCopyResource() Resource { return r.DeepCopy() }
