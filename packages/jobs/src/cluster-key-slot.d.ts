/** cluster-key-slot (ioredis's own dependency) ships no types: CRC16 slot of a key, honouring hash tags. */
declare module 'cluster-key-slot' {
  export default function clusterKeySlot(key: string): number;
}
