export * from './process';
export * from './tools';
export * from './temporal';
export * from './vault';
export * from './minio';
export * from './postgres';
