import { shippedSuite } from './cases.js';

shippedSuite(6, 8);
