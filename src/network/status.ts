export interface NetworkReadiness {
  ready: boolean;
  reason: string;
  message: string;
}

/** Where Status learns whether pod networking works, and where the pod CIDR goes. */
export interface NetworkStatusSource {
  status(): NetworkReadiness;
  setPodCidr(cidr: string): Promise<void>;
  podCidr(): string;
}

/** Used until CNI is wired: honest about networking not being available. */
export class NoNetwork implements NetworkStatusSource {
  private cidr = '';
  status(): NetworkReadiness {
    return { ready: false, reason: 'NetworkPluginNotReady', message: 'pod networking (CNI) is not configured in this build' };
  }
  async setPodCidr(cidr: string): Promise<void> {
    this.cidr = cidr;
  }
  podCidr(): string {
    return this.cidr;
  }
}
