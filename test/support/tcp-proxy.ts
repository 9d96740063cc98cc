import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

/** One client's connection through the proxy: the client's socket and the one to the target. */
interface Link {
  client: Socket;
  target: Socket;
}

/**
 * A TCP relay on 127.0.0.1 to a server (PostgreSQL, Redis) that a test can break the way
 * networks break: cut (new connections refused, open ones reset) and restore, or partition
 * (nothing forwarded either way, every socket kept open, new connections accepted and left
 * waiting) and heal (what was held back flows on, as TCP would deliver it once the path is back).
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly links = new Set<Link>();
  private partitioned = false;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const link = { client, target: connect(this.targetPort, '127.0.0.1') };
      this.links.add(link);
      const end = () => {
        this.links.delete(link);
        client.destroy();
        link.target.destroy();
      };
      client.on('error', end).on('close', end);
      link.target.on('error', end).on('close', end);
      if (!this.partitioned) this.flow(link);
    });
    await new Promise<void>((resolve, reject) => this.server!.once('error', reject).listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** The server is unreachable: new connections are refused, open ones reset. */
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server!.close(() => resolve()));
    for (const { client, target } of this.links) {
      client.resetAndDestroy();
      target.destroy();
    }
    await closed;
  }

  async restore(): Promise<void> {
    if (!this.server?.listening) await this.start();
  }

  /** Nothing gets through either way, and nothing is closed: requests and answers wait in the sockets. */
  partition(): void {
    this.partitioned = true;
    for (const link of this.links) {
      link.client.unpipe(link.target).pause();
      link.target.unpipe(link.client).pause();
    }
  }

  heal(): void {
    this.partitioned = false;
    for (const link of this.links) this.flow(link);
  }

  async stop(): Promise<void> {
    this.heal();
    if (this.server?.listening) await this.cut();
  }

  /** A URL of the target's (`postgres://…`, `redis://…`) through the proxy instead. */
  urlFor(url: string): string {
    const through = new URL(url);
    through.hostname = '127.0.0.1';
    through.port = String(this.port);
    return through.toString();
  }

  private flow({ client, target }: Link): void {
    client.pipe(target);
    target.pipe(client);
  }
}
