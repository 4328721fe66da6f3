/** cluster-key-slot ships no typings: the Redis Cluster hash slot (0-16383) of a key, hash tags honoured. */
declare module 'cluster-key-slot' {
  function calculateSlot(key: string | Buffer): number;
  export default calculateSlot;
}
